/**
 * A node reads a client's frame the same whether or not msgpackr could load its native string
 * extractor (it needs --allow-ffi; `deno task start` does not give it). msgpackr's JavaScript
 * reader drops a leading U+FEFF from a string over 64 bytes, its native one keeps it: a frame
 * the hand reader (`stream_read.ts`) leaves to the other readers (here: nested deeper than it reads)
 * must not come out otherwise in such a process.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Packr } from "msgpackr";
import { packValue } from "../client/mod.ts";
import { decodeStreamMessage } from "./stream_frames.ts";
import { NOT_READ, readStreamMessage } from "./stream_read.ts";
import { runWithoutFfi } from "../../test/testing/child_without_ffi.ts";

async function decodeWithoutFfi(bytes: Uint8Array): Promise<unknown> {
  const child = new URL("./_testing_stream_child.ts", import.meta.url).pathname;
  return JSON.parse(await runWithoutFfi(child, [], bytes));
}

Deno.test("stream frames: a frame left to msgpackr reads the same in a node without --allow-ffi", async () => {
  const memo = "\uFEFF" + "wire transfer reference ".repeat(4);
  let deep: unknown = "bottom";
  for (let k = 0; k < 20; k++) deep = [deep];
  const frame = {
    t: "req",
    i: 3,
    m: "POST",
    p: "/v1/queues/q/messages",
    b: { id: "p-1", body: { name: "Jos\u00e9", memo, deep } },
  };
  const bytes = packValue(frame, 1);
  assert.equal(
    readStreamMessage(bytes, 1),
    NOT_READ,
    "left to the other readers (nested deeper than the hand reader reads)",
  );
  const here = decodeStreamMessage(bytes);
  const there = await decodeWithoutFfi(bytes);
  assert.deepEqual(there, JSON.parse(JSON.stringify(here)));
  const got = (there as { frame: { b: { body: { memo: string } } } }[])[0].frame.b.body.memo;
  assert.equal(got, memo);
});

Deno.test("stream frames: a frame only msgpackr reads keeps a long string led by U+FEFF or is refused, alike without --allow-ffi", async () => {
  const memo = "\uFEFF" + "wire transfer reference ".repeat(4);
  // An integer key is read by neither of the project's readers: this frame reaches msgpackr,
  // whose reader drops the U+FEFF of a string over 64 bytes.
  const packr = new Packr({ useRecords: false });
  const b = new Map<unknown, unknown>([["memo", memo], [1, "x"]]);
  const frame = { t: "req", i: 3, m: "POST", p: "/v1/queues/q/messages", b };
  const bytes = new Uint8Array([1, ...packr.pack(frame)]);
  const here = JSON.parse(JSON.stringify(decodeStreamMessage(bytes)));
  assert.deepEqual(await decodeWithoutFfi(bytes), here);
  const [got] = here as Record<string, unknown>[];
  assert.equal(got.ok, false, "refused: msgpackr read it");
  if (got.ok) {
    assert.equal((got.frame as { b: { memo: string } }).b.memo, memo);
  } else {
    assert.match(String(got.reason), /U\+FEFF/);
    assert.equal(got.id, 3, "answered to its request");
    assert.equal(got.fatal, false);
  }
});
