/**
 * Disk faults on a stopped node's log directory (segment files `<20-digit index>.seg`).
 *
 * Power loss: a node started with `--test-faults` records after every fdatasync of its log the
 * segment and byte length now durable (`<data>/durable_offset`, see src/server/start.ts).
 * `cutToDurable` cuts the files back to it: what was written but not yet fsynced was only in the
 * page cache, which a power cut loses (a SIGKILL alone keeps it). `tearTail` then appends the
 * start of a write that never completed (a header that claims more bytes than follow, with a
 * wrong checksum). Recovery must truncate it, and nothing acknowledged may be missing.
 *
 * Corruption: `corruptMiddle` flips one byte in the first half of the last segment; valid
 * records follow it, so the node must refuse to start (docs/reliability.md item 9).
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

/**
 * Flips one byte in the first half of the newest segment's records (skipped when they are under
 * 4 KiB). The zeros the store writes ahead of its records are not counted: a byte flipped there
 * is no damage to a record.
 */
export async function corruptMiddle(dir: string, prng: Prng): Promise<string> {
  const path = await lastSegment(dir);
  if (path === undefined) return "skipped: no segment";
  const bytes = await Deno.readFile(path);
  let size = bytes.length;
  while (size > 0 && bytes[size - 1] === 0) size--;
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

/**
 * Cuts the log of a stopped node back to its last fsynced offset (power loss): the recorded
 * segment is truncated to its durable length and newer segments, which held nothing durable yet,
 * are deleted. Returns what it did; a missing or unreadable record cuts nothing (said so).
 */
export async function cutToDurable(dataDir: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dataDir}/durable_offset`);
  } catch {
    return "no durable offset recorded";
  }
  const m = /^(\d{20}\.seg) (\d+)\n?$/.exec(text);
  if (m === null) return `unreadable durable offset ${JSON.stringify(text)}`;
  const [, name, bytesText] = m;
  const durable = Number(bytesText);
  const dir = `${dataDir}/log`;
  const cut: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && SEGMENT_RE.test(e.name) && e.name > name) {
      await Deno.remove(`${dir}/${e.name}`);
      cut.push(`${e.name} removed`);
    }
  }
  try {
    const size = (await Deno.stat(`${dir}/${name}`)).size;
    if (size > durable) {
      await Deno.truncate(`${dir}/${name}`, durable);
      cut.push(`${name} ${size} -> ${durable} bytes`);
    }
  } catch { /* the segment was removed by a later truncation: nothing to cut */ }
  return cut.length === 0 ? "nothing unsynced" : cut.join(", ");
}
