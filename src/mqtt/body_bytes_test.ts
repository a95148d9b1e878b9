import assert from "node:assert/strict";
import { bodyJsonBytes } from "./body_bytes.ts";
import { encodePayload } from "./payload.ts";

const encoder = new TextEncoder();

/** `bodyJsonBytes` is `encode(JSON.stringify(body))` whenever it gives bytes, and gives them for plain text. */
function agrees(payload: Uint8Array): boolean {
  const { body, kind } = encodePayload(payload);
  const bytes = bodyJsonBytes(payload, kind);
  if (bytes !== undefined) assert.deepEqual([...bytes], [...encoder.encode(JSON.stringify(body))]);
  return bytes !== undefined;
}

Deno.test("bodyJsonBytes finds an escaped byte at every place of every length (the word scan's edges)", () => {
  const plain = [0x20, 0x21, 0x23, 0x41, 0x5b, 0x5d, 0x7e, 0x7f];
  const escaped = [0x00, 0x01, 0x0a, 0x1f, 0x22, 0x5c];
  for (let n = 1; n <= 40; n++) {
    // Text that starts like JSON would be tried as JSON first: start with a letter.
    for (const fill of plain) {
      const base = new Uint8Array(n).fill(fill);
      base[0] = 0x61;
      assert.ok(agrees(base), `plain ${fill} x ${n}`);
      for (let at = 0; at < n; at++) {
        for (const e of escaped) {
          const p = base.slice();
          p[at] = e;
          assert.equal(agrees(p), false, `${e} at ${at} of ${n}`);
        }
      }
    }
  }
  // Non-ASCII text, JSON, and a payload past a chunk's share.
  assert.ok(agrees(encoder.encode("aé😀 ~")));
  assert.ok(agrees(encoder.encode('{"a":[1,"x"]}')));
  assert.ok(agrees(encoder.encode("a".repeat(5000))));
  assert.equal(agrees(encoder.encode("a".repeat(5000) + "\\")), false);
  assert.equal(agrees(new Uint8Array([0x61, 0xff])), false);
});
