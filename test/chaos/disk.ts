/**
 * Disk faults on a stopped node's log directory (segment files `<20-digit index>.seg`).
 *
 * Power loss: the node does not report the offset it last fsynced, so we cannot cut its files
 * back to it (a gap, see docs/chaos.md). With `--storage fsync` every acknowledged append was
 * fsynced before it was answered, so what power loss can leave beyond that point is the start of
 * a write that never completed: `tearTail` appends such a torn record (a header that claims more
 * bytes than follow, with a wrong checksum). Recovery must truncate it.
 *
 * Corruption: `corruptMiddle` flips one byte in the first half of the last segment; valid
 * records follow it, so the node must refuse to start (RELIABILITY.md item 9).
 *
 * @module
 */

import type { Prng } from "../sim/prng.ts";

const SEGMENT_RE = /^\d{20}\.seg$/;

/** The path of the newest segment in `dir`, if any. */
export async function lastSegment(dir: string): Promise<string | undefined> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && SEGMENT_RE.test(e.name)) names.push(e.name);
    }
  } catch {
    return undefined;
  }
  names.sort();
  const last = names.at(-1);
  return last === undefined ? undefined : `${dir}/${last}`;
}

/** Appends a torn record (1..300 bytes of a write that never completed); returns what it did. */
export async function tearTail(dir: string, prng: Prng): Promise<string> {
  const path = await lastSegment(dir);
  if (path === undefined) return "no segment";
  const bytes = prng.range(1, 300);
  const torn = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) torn[i] = prng.int(256);
  if (bytes >= 8) {
    // A length that runs past the end of the file: a record whose write was cut short.
    new DataView(torn.buffer).setUint32(4, bytes + prng.range(1, 4096), true);
  }
  const f = await Deno.open(path, { append: true });
  try {
    await f.write(torn);
  } finally {
    f.close();
  }
  return `${path.split("/").pop()} +${bytes} torn bytes`;
}

/** Flips one byte in the first half of the newest segment (skipped when it is under 4 KiB). */
export async function corruptMiddle(dir: string, prng: Prng): Promise<string> {
  const path = await lastSegment(dir);
  if (path === undefined) return "skipped: no segment";
  const size = (await Deno.stat(path)).size;
  if (size < 4096) return `skipped: ${size} bytes`;
  const offset = prng.range(0, Math.floor(size / 2));
  const f = await Deno.open(path, { read: true, write: true });
  try {
    const b = new Uint8Array(1);
    await f.seek(offset, Deno.SeekMode.Start);
    await f.read(b);
    b[0] ^= 1 << prng.int(8);
    await f.seek(offset, Deno.SeekMode.Start);
    await f.write(b);
  } finally {
    f.close();
  }
  return `${path.split("/").pop()} byte ${offset} of ${size}`;
}
