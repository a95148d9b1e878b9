/**
 * Restoring from a `SnapshotSource` that is not the bytes themselves (a stored snapshot read
 * window by window): the state equals the one restored from the bytes, and the reader never asks
 * for more than a window or one frame at a time.
 */

import assert from "node:assert/strict";
import {
  captureSnapshot,
  restoreSnapshot,
  restoreSteps,
  snapshotBytes,
  type SnapshotSource,
} from "./snapshot.ts";
import { concatParts } from "./_snapshot_format.ts";
import { Log } from "./_testing.ts";
import { buildFixtureLog, buildLargeLog } from "./_testing_snapshot_state.ts";
import type { BrokerState } from "./state.ts";

/** A source over `bytes` that hands out fresh copies and records the size of every read. */
function chunkedSource(bytes: Uint8Array): SnapshotSource & { reads: number[] } {
  const reads: number[] = [];
  return {
    reads,
    byteLength: bytes.length,
    subarray(start: number, end: number): Uint8Array {
      reads.push(end - start);
      return bytes.slice(start, end);
    },
  };
}

function restoreFrom(source: SnapshotSource, windowBytes: number): BrokerState {
  const steps = restoreSteps(source, windowBytes);
  let r = steps.next();
  for (let n = 0; !r.done && n < 10_000_000; n++) r = steps.next();
  assert.ok(r.done);
  return r.value;
}

/** The largest frame payload of a snapshot (after the 5-byte preamble). */
function largestFrame(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let largest = 0;
  for (let at = 5; at < bytes.length;) {
    const len = view.getUint32(at, true);
    largest = Math.max(largest, len);
    at += 4 + len;
  }
  return largest;
}

Deno.test("a state restored window by window equals the one restored from the bytes", () => {
  const l = buildLargeLog(6_000);
  const bytes = snapshotBytes(l.broker);
  for (const windowBytes of [1, 1000, 64 * 1024, 1 << 20]) {
    const source = chunkedSource(bytes);
    const restored = restoreFrom(source, windowBytes);
    assert.deepEqual(snapshotBytes(restored), bytes, `window ${windowBytes}`);
    // Bounded memory: one window at a time, or one frame (with its length) when larger.
    const bound = Math.max(windowBytes, largestFrame(bytes) + 4);
    assert.ok(Math.max(...source.reads) <= bound, `a read of ${Math.max(...source.reads)}`);
    const total = source.reads.reduce((a, b) => a + b, 0);
    assert.ok(total >= bytes.length, `read ${total} of ${bytes.length} bytes`);
    // A window read anew starts at the frame that did not fit: it overlaps the last by less.
    const overlap = (source.reads.length - 1) * (largestFrame(bytes) + 4);
    assert.ok(total <= bytes.length + overlap, `read ${total}`);
  }
});

/**
 * A source that reads into the caller's buffer (`readInto`, as a snapshot file does), recording
 * every buffer it filled: the restore reuses one buffer for its windows.
 */
function readIntoSource(bytes: Uint8Array): SnapshotSource & { filled: Set<Uint8Array> } {
  const filled = new Set<Uint8Array>();
  return {
    filled,
    byteLength: bytes.length,
    subarray: (start, end) => bytes.slice(start, end),
    readInto(start: number, out: Uint8Array): void {
      out.set(bytes.subarray(start, start + out.length));
      filled.add(out);
    },
  };
}

Deno.test("a restore that reads its windows into one buffer keeps nothing of the buffer", () => {
  const l = buildLargeLog(6_000);
  // Topics too (their bodies, subscriptions' messages) and stored answers.
  const bytes = snapshotBytes(l.broker);
  for (const windowBytes of [1000, 4096, 64 * 1024, 1 << 20]) {
    const source = readIntoSource(bytes);
    const restored = restoreFrom(source, windowBytes);
    assert.ok(source.filled.size > 0, "readInto was used");
    // Whatever the restore kept must not be a view of the reused buffer: scribble over it.
    for (const b of source.filled) b.fill(0xee);
    assert.deepEqual(snapshotBytes(restored), bytes, `window ${windowBytes}`);
  }
});

Deno.test("a state restored from a source goes on like the one restored from the bytes", () => {
  const l = buildLargeLog(3_000);
  const bytes = snapshotBytes(l.broker);
  const a = new Log(restoreSnapshot(bytes));
  const b = new Log(restoreFrom(chunkedSource(bytes), 4096));
  for (const x of [a, b]) {
    x.index = l.index;
    x.now = l.now;
    x.advance(600);
  }
  assert.deepEqual(b.receive("q", 50), a.receive("q", 50));
  assert.deepEqual(b.receive("f", 30), a.receive("f", 30));
  assert.deepEqual(snapshotBytes(b.broker), snapshotBytes(a.broker));
});

Deno.test("the old snapshot of the compat test restores from a source", () => {
  const old = Deno.readFileSync(new URL("./testdata/snapshot_v2_objects.bin", import.meta.url));
  const restored = restoreFrom(chunkedSource(old), 512);
  assert.deepEqual(snapshotBytes(restored), old);
  assert.deepEqual(snapshotBytes(buildFixtureLog().broker), old);
});

Deno.test("a truncated or damaged source is refused, naming the restore", () => {
  const bytes = snapshotBytes(buildLargeLog(200).broker);
  assert.throws(
    () => restoreFrom(chunkedSource(bytes.slice(0, bytes.length - 3)), 1000),
    /Cannot restore snapshot/,
  );
  assert.throws(() => restoreFrom(chunkedSource(bytes.slice(0, 4)), 1000), /bad magic/);
  const short: SnapshotSource = {
    byteLength: bytes.length,
    subarray: (start, end) => bytes.slice(start, Math.min(end, start + 10)),
  };
  assert.throws(() => restoreFrom(short, 1000), /read 10 of/);
});

Deno.test("drain() encodes what parts() encodes, once: the capture is let go as it goes", () => {
  const l = buildLargeLog(5_000);
  const expected = snapshotBytes(l.broker);
  const view = captureSnapshot(l.broker);
  const drained = concatParts(view.drain());
  assert.deepEqual(drained, expected);
  assert.throws(() => view.serialize(), /once drained/);
  assert.throws(() => [...view.parts()], /once drained/);
  // A view never drained encodes as often as asked.
  const kept = captureSnapshot(l.broker);
  assert.deepEqual(kept.serialize(), expected);
  assert.deepEqual(concatParts(kept.parts()), expected);
});
