/**
 * Where each member can be reached. Raft's configuration names members by id only; their URLs
 * travel in the `context` of the conf change that added them and in the driver's snapshots, so
 * every node learns them from the log, the same way, with no side channel.
 *
 * @module
 */

import {
  type ConfChange,
  decodeConfChange,
  type Entry,
  EntryKind,
  type NodeId,
  type SnapshotData,
} from "../raft/mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Member id → advertised base URL (`http://host:port`). */
export class MemberUrls {
  #urls = new Map<NodeId, string>();
  #version = 0;

  constructor(initial?: Iterable<[NodeId, string]>) {
    if (initial) { for (const [id, url] of initial) this.#urls.set(id, url); }
  }

  get(id: NodeId): string | undefined {
    return this.#urls.get(id);
  }

  entries(): [NodeId, string][] {
    return [...this.#urls.entries()];
  }

  /**
   * Moves on every change (an applied conf change that adds or removes, a replace), so a
   * listener called after every applied batch compares one number, not the whole map.
   */
  get version(): number {
    return this.#version;
  }

  /** Follows one applied conf change: an added node's URL is its change's context. */
  applyConfChange(cc: ConfChange): void {
    if (cc.op === "remove") this.#urls.delete(cc.nodeId);
    else if (cc.op === "identify") return; // its context is an incarnation (identity.ts)
    else if (cc.context) this.#urls.set(cc.nodeId, cc.context);
    else return;
    this.#version++;
  }

  /** Replaces everything (after a snapshot install). */
  replace(entries: Iterable<[NodeId, string]>): void {
    this.#urls = new Map(entries);
    this.#version++;
  }
}

const NOTHING_AHEAD: readonly [NodeId, string][] = Object.freeze([]);

/**
 * The member URLs of the log a node opened with, as of its last entry (committed or not): dial
 * targets while the node replays up to that entry, nothing after (`MemberUrls` then says the
 * same). A URL says where a node may be reached, never whether it is a member. A restarted node
 * with thousands of entries to replay knew only the URLs of those applied so far, could not dial
 * a member added after them and waited for it to dial in (chaos F10: writes stopped 24-34 s
 * through a chain of faults).
 */
export class UrlsAhead {
  #ahead: { urls: readonly [NodeId, string][]; index: number } | undefined;

  /** `applied`: the URLs the node starts from; `entries`: its log, past `afterIndex`. */
  constructor(applied: MemberUrls, entries: readonly Entry[], afterIndex: number) {
    const last = entries.at(-1);
    if (last === undefined) return;
    const urls = new MemberUrls(applied.entries());
    for (const e of entries) {
      if (e.index > afterIndex && e.kind === EntryKind.ConfChange) {
        urls.applyConfChange(decodeConfChange(e.data));
      }
    }
    if (urls.version > 0) this.#ahead = { urls: urls.entries(), index: last.index };
  }

  /** The dial targets ahead with entries applied through `appliedIndex` (the same array until empty). */
  at(appliedIndex: number): readonly [NodeId, string][] {
    if (this.#ahead !== undefined && appliedIndex >= this.#ahead.index) this.#ahead = undefined;
    return this.#ahead?.urls ?? NOTHING_AHEAD;
  }
}

/** Most bytes copied between two calls of `pace`: ~1 ms of memcpy, but 5–10 ms when the pages are fresh (first touch faults them in, ~200 MB/s here). */
const COPY_SLICE_BYTES = 1 << 20;

/**
 * The driver's snapshot as parts, for a store that writes parts as they are: the header with the
 * member URLs and incarnations, then the application's parts (not copied). Their concatenation
 * is what `wrapSnapshot` makes.
 */
export function snapshotParts(
  urls: [NodeId, string][],
  app: Uint8Array | readonly Uint8Array[],
  incarnations: [NodeId, string][] = [],
): Uint8Array[] {
  const header = encoder.encode(
    JSON.stringify(incarnations.length > 0 ? { v: 1, urls, incarnations } : { v: 1, urls }),
  );
  const head = new Uint8Array(4 + header.length);
  new DataView(head.buffer).setUint32(0, header.length);
  head.set(header, 4);
  return [head, ...(app instanceof Uint8Array ? [app] : app)];
}

/**
 * The driver's snapshot: the member URLs and incarnations, then the application's bytes. Layout:
 * `[u32 header length][header: UTF-8 JSON {v:1, urls, incarnations?}][application bytes]`
 * (`incarnations` is new: a snapshot without it has none recorded, and an older node ignores it).
 *
 * The application's parts are copied into one buffer once, with a `pace()` every
 * `COPY_SLICE_BYTES`, so that a large snapshot is never copied in one synchronous slice.
 */
export function wrapSnapshot(
  urls: [NodeId, string][],
  app: Uint8Array | readonly Uint8Array[],
  pace: () => Promise<void>,
  incarnations: [NodeId, string][] = [],
): Promise<Uint8Array> {
  return joinParts(snapshotParts(urls, app, incarnations), pace);
}

/** The parts copied into one buffer, with a `pace()` every `COPY_SLICE_BYTES`. */
export async function joinParts(
  parts: readonly Uint8Array[],
  pace: () => Promise<void>,
): Promise<Uint8Array> {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  let sinceYield = 0;
  for (const p of parts) {
    for (let from = 0; from < p.length; from += COPY_SLICE_BYTES) {
      if (sinceYield >= COPY_SLICE_BYTES) {
        await pace();
        sinceYield = 0;
      }
      const chunk = p.subarray(from, from + COPY_SLICE_BYTES);
      out.set(chunk, at);
      at += chunk.length;
      sinceYield += chunk.length;
    }
  }
  return out;
}

/** The driver's snapshot header: member URLs and incarnations. */
export interface SnapshotHeader {
  urls: [NodeId, string][];
  incarnations: [NodeId, string][];
}

/** Splits what `wrapSnapshot` made; throws on anything else. */
export function unwrapSnapshot(data: Uint8Array): SnapshotHeader & { app: Uint8Array };
/**
 * The same for data read on demand (a stored snapshot): the application's part is a view of it
 * that reads the same storage, shifted past the header.
 */
export function unwrapSnapshot(data: SnapshotData): SnapshotHeader & { app: SnapshotData };
export function unwrapSnapshot(data: SnapshotData): SnapshotHeader & { app: SnapshotData } {
  if (data.byteLength < 4) throw new Error("Cannot read a snapshot: shorter than its header");
  const len = data.subarray(0, 4);
  const headerBytes = new DataView(len.buffer, len.byteOffset, len.byteLength).getUint32(0);
  if (4 + headerBytes > data.byteLength) {
    throw new Error("Cannot read a snapshot: header overruns it");
  }
  const header = JSON.parse(decoder.decode(data.subarray(4, 4 + headerBytes))) as {
    v?: number;
    urls?: [NodeId, string][];
    incarnations?: [NodeId, string][];
  };
  if (header.v !== 1 || !Array.isArray(header.urls)) {
    throw new Error(`Cannot read a snapshot: unknown header version ${String(header.v)}`);
  }
  const incarnations = Array.isArray(header.incarnations) ? header.incarnations : [];
  const off = 4 + headerBytes;
  return { urls: header.urls, incarnations, app: dataAfter(data, off) };
}

/** `data` from byte `off` on: a view of a buffer, or a reader shifted by `off`. */
function dataAfter(data: SnapshotData, off: number): SnapshotData {
  if (data instanceof Uint8Array) return data.subarray(off);
  const byteLength = data.byteLength - off;
  const clamp = (x: number) => Math.max(0, Math.min(byteLength, x));
  const readInto = data.readInto?.bind(data);
  return {
    byteLength,
    subarray: (start, end) => data.subarray(off + clamp(start), off + clamp(end)),
    ...(readInto === undefined ? {} : {
      readInto: (start: number, out: Uint8Array) => {
        if (start < 0 || start + out.length > byteLength) {
          throw new Error(`Cannot read bytes ${start}..${start + out.length} of ${byteLength}`);
        }
        readInto(off + start, out);
      },
    }),
  };
}
