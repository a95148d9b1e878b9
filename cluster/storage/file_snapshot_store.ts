/**
 * `FileSnapshotStore` and `MemorySnapshotStore`: the two SnapshotStore implementations.
 *
 * @module
 */

import type { Snapshot } from "../raft/mod.ts";
import type { SnapshotStore } from "./snapshot_store.ts";
import { decodeSnapshot, encodeSnapshotHead } from "./_codec.ts";
import { crc32c } from "./crc32c.ts";
import { ioError, syncDir, writeAll } from "./_fs.ts";

const NAME_RE = /^(\d{20})-(\d{20})\.snap$/;

/** How many snapshots stay on disk: the newest and one older (for inspection after damage). */
export const SNAPSHOTS_KEPT = 2;

/**
 * Bytes checksummed and written per step of `save`: ~1.5 ms of CRC32C here, then an awaited
 * write that gives the event loop a turn, so saving a large snapshot never stalls the node.
 */
export const SAVE_CHUNK_BYTES = 1 << 20;

function snapshotName(index: number, term: number): string {
  return `${String(index).padStart(20, "0")}-${String(term).padStart(20, "0")}.snap`;
}

/**
 * Snapshots as `<index>-<term>.snap` files in one directory, each written atomically (temp
 * file, fdatasync, rename, fsync the directory) and checksummed; older ones beyond
 * `SNAPSHOTS_KEPT` are deleted after a save.
 */
export class FileSnapshotStore implements SnapshotStore {
  readonly #dir: string;
  #fatal: Error | undefined;
  #tail: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    this.#dir = dir;
  }

  async load(): Promise<Snapshot | undefined> {
    await Deno.mkdir(this.#dir, { recursive: true });
    await this.#removeTempFiles();
    const names = await this.#list();
    const newest = names.at(-1);
    if (newest === undefined) return undefined;
    const path = `${this.#dir}/${newest}`;
    const s = decodeSnapshot(await Deno.readFile(path), `Cannot load the Raft snapshot ${path}`);
    const m = NAME_RE.exec(newest)!;
    if (s.meta.index !== Number(m[1]) || s.meta.term !== Number(m[2])) {
      throw new Error(
        `Cannot load the Raft snapshot ${path}: it holds index ${s.meta.index} term ${s.meta.term}`,
      );
    }
    return s;
  }

  save(s: Snapshot): Promise<void> {
    const run = async () => {
      if (this.#fatal) throw this.#fatal;
      try {
        await Deno.mkdir(this.#dir, { recursive: true });
        await writeSnapshotFile(this.#dir, snapshotName(s.meta.index, s.meta.term), s);
        const names = await this.#list();
        const old = names.slice(0, Math.max(0, names.length - SNAPSHOTS_KEPT));
        for (const name of old) await Deno.remove(`${this.#dir}/${name}`);
        if (old.length > 0) await syncDir(this.#dir);
      } catch (err) {
        this.#fatal = ioError(`Cannot save the Raft snapshot at index ${s.meta.index}`, err);
        throw this.#fatal;
      }
    };
    const p = this.#tail.then(run);
    this.#tail = p.catch(() => {});
    return p;
  }

  /** A crash during `save` can leave `<name>.snap.tmp`: the rename never happened, drop it. */
  async #removeTempFiles(): Promise<void> {
    for await (const e of Deno.readDir(this.#dir)) {
      if (e.isFile && e.name.endsWith(".snap.tmp")) await Deno.remove(`${this.#dir}/${e.name}`);
    }
  }

  /** Snapshot file names, oldest first (names sort by index, then term). */
  async #list(): Promise<string[]> {
    const names: string[] = [];
    for await (const e of Deno.readDir(this.#dir)) {
      if (e.isFile && NAME_RE.test(e.name)) names.push(e.name);
    }
    return names.sort();
  }
}

/**
 * Writes the snapshot file atomically and durably (temp file, fdatasync, rename, fsync the
 * directory: a crash leaves the old or the new file), streaming the data in `SAVE_CHUNK_BYTES`
 * writes with the CRC32C computed incrementally, never copying the data into one buffer.
 */
async function writeSnapshotFile(dir: string, name: string, s: Snapshot): Promise<void> {
  const tmp = `${dir}/${name}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const head = encodeSnapshotHead(s);
    let crc = crc32c(head);
    await writeAll(file, head);
    for (let from = 0; from < s.data.length; from += SAVE_CHUNK_BYTES) {
      const to = Math.min(s.data.length, from + SAVE_CHUNK_BYTES);
      crc = crc32c(s.data, crc, from, to);
      await writeAll(file, s.data.subarray(from, to));
    }
    const trailer = new Uint8Array(4);
    new DataView(trailer.buffer).setUint32(0, crc, true);
    await writeAll(file, trailer);
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, `${dir}/${name}`);
  await syncDir(dir);
}

/** The newest snapshot in memory: nothing survives the process. */
export class MemorySnapshotStore implements SnapshotStore {
  #snapshot: Snapshot | undefined;

  load(): Promise<Snapshot | undefined> {
    return Promise.resolve(this.#snapshot);
  }

  save(s: Snapshot): Promise<void> {
    if (!this.#snapshot || s.meta.index >= this.#snapshot.meta.index) this.#snapshot = s;
    return Promise.resolve();
  }
}
