/**
 * Reading durable entries back out of the segment files, synchronously: the Raft core keeps only
 * its newest entries in memory (`RaftConfig.logCacheBytes`) and reads older ones back here when
 * a lagging follower needs them or the apply path has not had them yet. The reads are short (at
 * most `maxBytes`, a replication message's worth) and usually hit the page cache: the entries
 * were written moments or minutes ago.
 *
 * @module
 */

import type { Entry } from "../raft/mod.ts";
import { decodeRecord, toEntry } from "./_record.ts";
import type { Segment } from "./_segment_scan.ts";

/** Read handles on segment files (one per segment, opened on first read; not the append one). */
export class SegmentReads {
  readonly #files = new Map<string, Deno.FsFile>();

  /** Entries `lo..lo+count-1` of `seg`, every record verified again (checksum, index). */
  read(seg: Segment, lo: number, count: number): Entry[] {
    const k0 = lo - seg.firstIndex;
    const k1 = k0 + count;
    if (k0 < 0 || count < 1 || k1 > seg.offsets.length) {
      throw new Error(`Cannot read entries ${lo}..${lo + count - 1} from ${seg.path}`);
    }
    const start = seg.offsets[k0];
    const end = k1 < seg.offsets.length ? seg.offsets[k1] : seg.bytes;
    const buf = this.#readAt(seg.path, start, end - start);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const out: Entry[] = [];
    let at = 0;
    for (let k = k0; k < k1; k++) {
      const r = decodeRecord(buf, view, at, buf.length);
      if (!r.ok || r.record.index !== seg.firstIndex + k) {
        throw new Error(
          `Cannot read Raft log entry ${seg.firstIndex + k} back: ${seg.path} changed under ` +
            `the running node (${r.ok ? `it holds index ${r.record.index}` : r.reason})`,
        );
      }
      out.push(toEntry(buf, r.record));
      at = r.record.end;
    }
    return out;
  }

  /** Closes the read handle of a segment that is deleted or cut. */
  forget(path: string): void {
    this.#files.get(path)?.close();
    this.#files.delete(path);
  }

  closeAll(): void {
    for (const f of this.#files.values()) f.close();
    this.#files.clear();
  }

  #readAt(path: string, offset: number, length: number): Uint8Array {
    let file = this.#files.get(path);
    if (file === undefined) {
      file = Deno.openSync(path, { read: true });
      this.#files.set(path, file);
    }
    file.seekSync(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(length);
    let n = 0;
    // Bounded: each turn reads at least one byte or stops.
    while (n < length) {
      const k = file.readSync(buf.subarray(n));
      if (k === null || k === 0) {
        throw new Error(`Cannot read ${path} at byte ${offset + n}: the file ends early`);
      }
      n += k;
    }
    return buf;
  }
}

/**
 * What entry `k` of `seg` counts for against a read's `maxBytes`, from its record's size on disk
 * (data + 25 bytes): the core's `entryBytes` (data + 24), so a read back stops where a slice of
 * the same entries in memory would.
 */
export function entryBytesAt(seg: Segment, k: number): number {
  const end = k + 1 < seg.offsets.length ? seg.offsets[k + 1] : seg.bytes;
  return end - seg.offsets[k] - 1;
}
