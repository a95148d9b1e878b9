/**
 * The replicated application run by every simulated node, behind a small pluggable interface so
 * another file can run the same cluster with the broker state machine inside. The default is a
 * hash chain: each applied entry folds its index, term and data into a running 32-bit FNV-1a
 * hash, so two nodes that applied different entries anywhere in their history disagree on the
 * hash from that index on.
 *
 * @module
 */

import type { Entry, NodeId } from "../../cluster/raft/mod.ts";

/** What the simulator needs from a replicated state machine. */
export interface SimApp {
  /** Applies one committed entry (Normal or ConfChange) and returns its result. */
  apply(entry: Entry): Uint8Array;
  /** An immutable copy of the state, as of the last applied entry. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with `bytes` from `snapshot()` (possibly another node's). */
  restore(bytes: Uint8Array): void;
  /** A digest of the whole state, compared across nodes at the same applied index. */
  digest(): string;
}

/** Builds a fresh application for node `id` (at start and at every restart). */
export type SimAppFactory = (id: NodeId) => SimApp;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnvByte(h: number, b: number): number {
  return Math.imul(h ^ (b & 0xff), FNV_PRIME) >>> 0;
}

function fnvUint32(h: number, v: number): number {
  h = fnvByte(h, v);
  h = fnvByte(h, v >>> 8);
  h = fnvByte(h, v >>> 16);
  return fnvByte(h, v >>> 24);
}

/** FNV-1a of a byte array (used to compare entry payloads cheaply in traces). */
export function fnv32(data: Uint8Array, h = FNV_OFFSET): number {
  for (let i = 0; i < data.length; i++) h = fnvByte(h, data[i]);
  return h;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The encoding of a workload command: `cmd:<id>`. Other payloads are applied but not counted. */
export function encodeCommand(id: number): Uint8Array {
  return encoder.encode(`cmd:${id}`);
}

/** The command id in `data`, or undefined when `data` is not a workload command. */
export function decodeCommand(data: Uint8Array): number | undefined {
  if (data.length < 5 || data[0] !== 0x63) return undefined; // 'c'
  const text = decoder.decode(data);
  return text.startsWith("cmd:") ? Number(text.slice(4)) : undefined;
}

/** How many of the last applied command ids the chain keeps (and puts in snapshots). */
const RECENT_IDS_MAX = 64;

interface ChainState {
  hash: number;
  count: number;
  /**
   * The most recent command ids in apply order (duplicates stay: Raft alone does not deduplicate
   * retries); between RECENT_IDS_MAX and twice that many once the run is long.
   */
  ids: number[];
}

/** The default simulated application: a hash chain plus the list of applied command ids. */
export class HashChainApp implements SimApp {
  #s: ChainState = { hash: FNV_OFFSET, count: 0, ids: [] };

  apply(entry: Entry): Uint8Array {
    let h = fnvUint32(this.#s.hash, entry.index);
    h = fnvUint32(h, entry.term);
    h = fnvUint32(h, entry.kind);
    this.#s.hash = fnv32(entry.data, h);
    this.#s.count++;
    const id = entry.kind === 0 ? decodeCommand(entry.data) : undefined;
    if (id !== undefined) {
      this.#s.ids.push(id);
      // Only the recent ids are kept: the snapshot stays small however long the run.
      if (this.#s.ids.length > RECENT_IDS_MAX * 2) this.#s.ids = this.#s.ids.slice(-RECENT_IDS_MAX);
    }
    return encoder.encode(String(this.#s.hash));
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify(this.#s));
  }

  restore(bytes: Uint8Array): void {
    const s = JSON.parse(decoder.decode(bytes)) as ChainState;
    if (typeof s.hash !== "number" || !Array.isArray(s.ids)) {
      throw new Error("Cannot restore the hash chain: the snapshot bytes are not a chain state");
    }
    this.#s = { hash: s.hash, count: s.count, ids: s.ids.slice() };
  }

  digest(): string {
    return `${this.#s.hash.toString(16)}/${this.#s.count}`;
  }

  /** The most recent command ids applied, in order. */
  appliedIds(): readonly number[] {
    return this.#s.ids;
  }
}
