/**
 * `FileSnapshotStore` and `MemorySnapshotStore`: the two SnapshotStore implementations.
 *
 * @module
 */

import type { Snapshot, SnapshotData, SnapshotMeta, StoredSnapshot } from "../raft/mod.ts";
import {
  type OpenedSnapshot,
  SnapshotSaveAbandoned,
  type SnapshotStore,
} from "./snapshot_store.ts";
import { decodeSnapshot, decodeSnapshotHead, encodeSnapshotHead } from "./_codec.ts";
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
  #stored: StoredSnapshot | undefined;

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
    this.#stored = storedFrom(path, s.meta, s.data.length);
    return s;
  }

  /**
   * `load` without reading the data into memory: the newest file's checksum is verified reading
   * it `SAVE_CHUNK_BYTES` at a time, and the snapshot comes back with data read from the file on
   * demand through a descriptor held until `close()` (so the file may be replaced or deleted by
   * later saves meanwhile). A restart restored a 360 MB snapshot read whole, with the state built
   * beside it: ~900 MB at the peak where the state alone takes ~550.
   */
  async open(): Promise<OpenedSnapshot | undefined> {
    await Deno.mkdir(this.#dir, { recursive: true });
    await this.#removeTempFiles();
    const newest = (await this.#list()).at(-1);
    if (newest === undefined) return undefined;
    const path = `${this.#dir}/${newest}`;
    const what = `Cannot load the Raft snapshot ${path}`;
    const file = await Deno.open(path, { read: true });
    try {
      const { meta, dataOffset, dataBytes } = await verifyFile(file, what);
      const m = NAME_RE.exec(newest)!;
      if (meta.index !== Number(m[1]) || meta.term !== Number(m[2])) {
        throw new Error(`${what}: it holds index ${meta.index} term ${meta.term}`);
      }
      this.#stored = storedFrom(path, meta, dataBytes);
      return { meta, data: openedData(file, path, dataOffset, dataBytes) };
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * The snapshot `meta` names, saved by this store a moment ago, opened like `open()` does but
   * without reading it through again for its checksum (it was checksummed as it was written and
   * is durable); undefined when its file is gone (a newer save replaced it meanwhile). For a
   * follower that just saved a leader's snapshot: it restores from the file and lets go of the
   * received bytes at once.
   */
  async openSaved(meta: SnapshotMeta): Promise<OpenedSnapshot | undefined> {
    const path = `${this.#dir}/${snapshotName(meta.index, meta.term)}`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    try {
      const headBytes = new Uint8Array(HEAD_READ_BYTES);
      let n = 0;
      for (let reads = 0; reads < 1000 && n < headBytes.length; reads++) {
        const r = await file.read(headBytes.subarray(n));
        if (r === null || r === 0) break; // a file shorter than HEAD_READ_BYTES
        n += r;
      }
      const head = decodeSnapshotHead(headBytes.subarray(0, n), `Cannot open ${path}`);
      return { meta, data: openedData(file, path, head.dataOffset, head.dataBytes) };
    } catch (e) {
      file.close();
      throw e;
    }
  }

  stored(): StoredSnapshot | undefined {
    return this.#stored;
  }

  async save(s: Snapshot): Promise<void> {
    await this.saveParts(s.meta, [s.data]);
  }

  saveParts(meta: SnapshotMeta, parts: readonly Uint8Array[]): Promise<StoredSnapshot> {
    return this.#save(meta, (dir, name) => writeSnapshotFile(dir, name, meta, parts));
  }

  /**
   * `saveParts` for parts made as they are asked for (an encoder working through a capture):
   * each is written and let go before the next is made, so the encoded state is never all in
   * memory (at 1,000,000 messages, ~100 MB of column parts beside the capture). The file is the
   * one `saveParts` writes, byte for byte: its head, which holds the data's length, is written
   * once that length is known, and the checksum is computed reading the written file back.
   */
  saveStream(meta: SnapshotMeta, parts: AsyncIterable<Uint8Array>): Promise<StoredSnapshot> {
    return this.#save(meta, (dir, name) => writeSnapshotFileStreamed(dir, name, meta, parts));
  }

  #save(
    meta: SnapshotMeta,
    write: (dir: string, name: string) => Promise<number>,
  ): Promise<StoredSnapshot> {
    const run = async () => {
      if (this.#fatal) throw this.#fatal;
      try {
        await Deno.mkdir(this.#dir, { recursive: true });
        const name = snapshotName(meta.index, meta.term);
        const bytes = await write(this.#dir, name);
        const names = await this.#list();
        const old = names.slice(0, Math.max(0, names.length - SNAPSHOTS_KEPT));
        for (const name of old) await Deno.remove(`${this.#dir}/${name}`);
        if (old.length > 0) await syncDir(this.#dir);
        const stored = storedFrom(`${this.#dir}/${name}`, meta, bytes);
        if (!this.#stored || meta.index >= this.#stored.meta.index) this.#stored = stored;
        return stored;
      } catch (err) {
        if (err instanceof SnapshotSaveAbandoned) {
          const tmp = `${this.#dir}/${snapshotName(meta.index, meta.term)}.tmp`;
          await Deno.remove(tmp).catch(() => {}); // else the next open drops it
          throw err;
        }
        this.#fatal = ioError(`Cannot save the Raft snapshot at index ${meta.index}`, err);
        throw this.#fatal;
      }
    };
    const p = this.#tail.then(run);
    this.#tail = p.then(() => {}, () => {});
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

/** Parts smaller than this are gathered into one write buffer rather than written each. */
const SMALL_PART_BYTES = 64 * 1024;

/**
 * Writes parts to a file in order: large parts as they are, in `SAVE_CHUNK_BYTES` steps, small
 * ones gathered into one buffer first (`flush()` writes what is gathered). With `crc`, it keeps
 * the CRC32C of what it wrote, a chunk at a time between writes: a part of a leader's snapshot
 * is the whole state (360 MB at 1,000,000 messages), and its CRC in one call held the event loop
 * for ~200 ms.
 */
class PartWriter {
  readonly #staged = new Uint8Array(SAVE_CHUNK_BYTES);
  #stagedBytes = 0;

  constructor(readonly file: Deno.FsFile, public crc?: number) {}

  async write(p: Uint8Array): Promise<void> {
    if (p.length < SMALL_PART_BYTES) {
      if (this.#stagedBytes + p.length > this.#staged.length) await this.flush();
      this.#staged.set(p, this.#stagedBytes);
      this.#stagedBytes += p.length;
      return;
    }
    await this.flush();
    for (let from = 0; from < p.length; from += SAVE_CHUNK_BYTES) {
      await this.#writeChunk(p.subarray(from, Math.min(p.length, from + SAVE_CHUNK_BYTES)));
    }
  }

  async flush(): Promise<void> {
    if (this.#stagedBytes === 0) return;
    await this.#writeChunk(this.#staged.subarray(0, this.#stagedBytes));
    this.#stagedBytes = 0;
  }

  async #writeChunk(chunk: Uint8Array): Promise<void> {
    if (this.crc !== undefined) this.crc = crc32c(chunk, this.crc);
    await writeAll(this.file, chunk);
  }
}

/**
 * Writes the snapshot file atomically and durably (temp file, fdatasync, rename, fsync the
 * directory: a crash leaves the old or the new file), streaming the parts with the CRC32C
 * computed as it goes, a chunk at a time: large parts are written as they are, in `SAVE_CHUNK_BYTES` steps, small
 * ones gathered into one buffer first, never all the data in one buffer. Returns the data bytes.
 */
async function writeSnapshotFile(
  dir: string,
  name: string,
  meta: SnapshotMeta,
  parts: readonly Uint8Array[],
): Promise<number> {
  let dataBytes = 0;
  for (const p of parts) dataBytes += p.length;
  const tmp = `${dir}/${name}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const head = encodeSnapshotHead(meta, dataBytes);
    await writeAll(file, head);
    const writer = new PartWriter(file, crc32c(head));
    for (const p of parts) await writer.write(p);
    await writer.flush();
    await writeTrailer(file, writer.crc!);
  } finally {
    file.close();
  }
  await publishFile(tmp, dir, name);
  return dataBytes;
}

/**
 * `writeSnapshotFile` for parts that come one by one, their total unknown until the last: the
 * data is written after a head of the same length (the length is a fixed-width field), the real
 * head over it at the end, then the file is read back in `SAVE_CHUNK_BYTES` steps for its
 * CRC32C (which also checks what the disk was given). Returns the data bytes.
 */
async function writeSnapshotFileStreamed(
  dir: string,
  name: string,
  meta: SnapshotMeta,
  parts: AsyncIterable<Uint8Array>,
): Promise<number> {
  const tmp = `${dir}/${name}.tmp`;
  const file = await Deno.open(tmp, { read: true, write: true, create: true, truncate: true });
  let dataBytes = 0;
  try {
    await writeAll(file, encodeSnapshotHead(meta, 0));
    const writer = new PartWriter(file);
    for await (const p of parts) {
      dataBytes += p.length;
      await writer.write(p);
    }
    await writer.flush();
    const head = encodeSnapshotHead(meta, dataBytes);
    await file.seek(0, Deno.SeekMode.Start);
    await writeAll(file, head);
    await file.seek(0, Deno.SeekMode.Start);
    const staged = new Uint8Array(SAVE_CHUNK_BYTES);
    let crc = 0;
    const total = head.length + dataBytes;
    for (let at = 0; at < total;) {
      const n = await file.read(staged.subarray(0, Math.min(staged.length, total - at)));
      if (n === null || n === 0) throw new Error(`${tmp}: short read at ${at} of ${total}`);
      crc = crc32c(staged.subarray(0, n), crc);
      at += n;
    }
    await file.seek(total, Deno.SeekMode.Start);
    await writeTrailer(file, crc);
  } finally {
    file.close();
  }
  await publishFile(tmp, dir, name);
  return dataBytes;
}

/** Writes the CRC32C trailer at the file's position and makes the file's data durable. */
async function writeTrailer(file: Deno.FsFile, crc: number): Promise<void> {
  const trailer = new Uint8Array(4);
  new DataView(trailer.buffer).setUint32(0, crc, true);
  await writeAll(file, trailer);
  await file.syncData();
}

/** Renames the written temp file to its name and makes the rename durable (fsync the dir). */
async function publishFile(tmp: string, dir: string, name: string): Promise<void> {
  await Deno.rename(tmp, `${dir}/${name}`);
  await syncDir(dir);
}

/** Head bytes read to decode a snapshot file's head (its meta holds a few member ids). */
const HEAD_READ_BYTES = 64 * 1024;

/**
 * Checks a whole snapshot file against its trailing CRC32C, reading it `SAVE_CHUNK_BYTES` at a
 * time, and decodes its head. Throws naming `what` on any damage, as `decodeSnapshot` does.
 */
async function verifyFile(
  file: Deno.FsFile,
  what: string,
): Promise<{ meta: SnapshotMeta; dataOffset: number; dataBytes: number }> {
  const size = (await file.stat()).size;
  if (size < 9) throw new Error(`${what}: the file is too short (${size} bytes)`);
  const chunk = new Uint8Array(SAVE_CHUNK_BYTES);
  const body = size - 4;
  const headBytes = new Uint8Array(Math.min(body, HEAD_READ_BYTES));
  let crc = 0;
  for (let at = 0; at < body;) {
    const n = await file.read(chunk.subarray(0, Math.min(chunk.length, body - at)));
    if (n === null || n === 0) throw new Error(`${what}: short read at ${at} of ${size}`);
    if (at < headBytes.length) {
      headBytes.set(chunk.subarray(0, Math.min(n, headBytes.length - at)), at);
    }
    crc = crc32c(chunk.subarray(0, n), crc);
    at += n;
  }
  const trailer = new Uint8Array(4);
  for (let at = 0; at < 4;) {
    const n = await file.read(trailer.subarray(at));
    if (n === null || n === 0) throw new Error(`${what}: short read of its checksum`);
    at += n;
  }
  if (new DataView(trailer.buffer).getUint32(0, true) !== crc) {
    throw new Error(`${what}: checksum mismatch`);
  }
  const head = decodeSnapshotHead(headBytes, `${what}`);
  if (head.dataOffset + head.dataBytes !== body) {
    throw new Error(`${what}: its head counts ${head.dataBytes} bytes of data in ${size} bytes`);
  }
  return head;
}

/** Data read from an open snapshot file, a range at a time, until `close()`. */
function openedData(
  file: Deno.FsFile,
  path: string,
  dataOffset: number,
  byteLength: number,
): OpenedSnapshot["data"] {
  let open = true;
  const readInto = (from: number, out: Uint8Array): void => {
    if (!open) throw new Error(`Cannot read the Raft snapshot ${path}: it was closed`);
    if (from < 0 || from + out.length > byteLength) {
      throw new Error(
        `Cannot read bytes ${from}..${from + out.length} of the Raft snapshot ${path}`,
      );
    }
    file.seekSync(dataOffset + from, Deno.SeekMode.Start);
    for (let at = 0; at < out.length;) {
      const n = file.readSync(out.subarray(at));
      if (n === null || n === 0) throw new Error(`Cannot read the Raft snapshot ${path}: short`);
      at += n;
    }
  };
  return {
    byteLength,
    subarray(start: number, end: number): Uint8Array {
      const from = Math.max(0, Math.min(byteLength, start));
      const out = new Uint8Array(Math.max(0, Math.min(byteLength, end) - from));
      readInto(from, out);
      return out;
    },
    // The restore reads its windows into one buffer (`FrameReader`): a fresh 4 MiB buffer per
    // window cost the kernel's page faults on new memory and the collector's external memory.
    readInto,
    close(): void {
      if (open) file.close();
      open = false;
    },
  };
}

/**
 * A saved snapshot whose data is read from its file on demand, a chunk at a time (open, read,
 * close: no descriptor is held). The file stays while it is one of the `SNAPSHOTS_KEPT` newest;
 * the Raft core sends only its newest snapshot, which is always among them.
 */
function storedFrom(path: string, meta: SnapshotMeta, byteLength: number): StoredSnapshot {
  const dataOffset = encodeSnapshotHead(meta, byteLength).length;
  const data: SnapshotData = {
    byteLength,
    subarray(start: number, end: number): Uint8Array {
      const from = Math.max(0, Math.min(byteLength, start));
      const out = new Uint8Array(Math.max(0, Math.min(byteLength, end) - from));
      const f = Deno.openSync(path, { read: true });
      try {
        f.seekSync(dataOffset + from, Deno.SeekMode.Start);
        for (let at = 0; at < out.length;) {
          const n = f.readSync(out.subarray(at));
          if (n === null || n === 0) {
            throw new Error(`Cannot read the Raft snapshot ${path}: short`);
          }
          at += n;
        }
      } finally {
        f.close();
      }
      return out;
    },
  };
  return { meta, data };
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
