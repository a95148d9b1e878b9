import assert from "node:assert/strict";
import { pack, unpack } from "./_snapshot_format.ts";

// A snapshot's parts are packed one after another and written as they come. A part that is a view
// of msgpackr's shared buffer keeps that whole buffer alive, and the buffers a snapshot went
// through outlived the young generation: ~100 MB of garbage per snapshot at 1M messages.
Deno.test("a packed snapshot part owns exactly its bytes, and stays intact after the next pack", () => {
  const first = pack(["msgs", new Uint8Array(5000).fill(7), ["a", "b"]]);
  const second = pack(["msgs", new Uint8Array(9000).fill(9), ["c"]]);
  for (const part of [first, second]) {
    assert.equal(part.byteOffset, 0);
    assert.equal(part.buffer.byteLength, part.byteLength);
  }
  const [, bytes, ids] = unpack(first) as [string, Uint8Array, string[]];
  assert.deepEqual([bytes.length, bytes[0], bytes[4999], ids], [5000, 7, 7, ["a", "b"]]);
  assert.equal((unpack(second) as [string, Uint8Array])[1][8999], 9);
});
