import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr } from "msgpackr";
import type { Message } from "../raft/mod.ts";
import {
  decodeFrame,
  encodeFrame,
  encodeFrameParts,
  estimateMessageBytes,
  FRAME_VERSION_V1,
} from "./codec.ts";

const bytes = fc.uint8Array({ maxLength: 64 });
/** Node and cluster ids as the config and the membership API admit them, up to the longest. */
const name = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/);
/**
 * An entry's bytes: anything, or a client's msgpack string over 64 bytes led by U+FEFF (which
 * msgpackr's reader would shorten were it a field of the frame; in a bin it is opaque).
 */
const entryData = fc.oneof(
  bytes,
  fc.string({ minLength: 62, maxLength: 300 }).map((s) =>
    new Uint8Array(new Packr().pack(`\uFEFF${s}`))
  ),
);
const message: fc.Arbitrary<Message> = fc.record(
  {
    type: fc.constantFrom("append", "vote", "heartbeat", "snapshot", "read_index_resp" as const),
    clusterId: name,
    from: name,
    to: name,
    term: fc.nat(),
    logTerm: fc.nat(),
    index: fc.nat(),
    commit: fc.nat(),
    reject: fc.boolean(),
    rejectHint: fc.nat(),
    context: bytes,
    incarnation: fc.string({ maxLength: 64 }),
    toIncarnation: fc.string({ maxLength: 64 }),
    entries: fc.array(
      fc.record({
        term: fc.nat(),
        index: fc.nat(),
        kind: fc.constantFrom(0, 1 as const),
        data: entryData,
      }).map((e) => ({ ...e })), // plain objects, as a real driver builds them
      { maxLength: 4 },
    ),
  },
  {
    requiredKeys: ["type", "clusterId", "from", "to", "term", "logTerm", "index", "commit"],
  },
).map((m) => ({ ...m }));

Deno.test("decodeFrame(encodeFrame(msgs)) returns msgs with plain Uint8Array fields, entries' bytes untouched", () => {
  fc.assert(
    fc.property(fc.array(message, { maxLength: 8 }), (msgs) => {
      const decoded = decodeFrame(encodeFrame(msgs));
      assert.ok(decoded.ok);
      assert.deepStrictEqual(decoded.messages, msgs);
    }),
    { numRuns: 200 },
  );
});

Deno.test("encodeFrame() writes the version byte first and returns a buffer it does not reuse", () => {
  const m: Message = {
    type: "heartbeat",
    clusterId: "c",
    from: "a",
    to: "b",
    term: 1,
    logTerm: 0,
    index: 0,
    commit: 0,
  };
  const f1 = encodeFrame([m]);
  const copy = f1.slice();
  encodeFrame([{ ...m, term: 99, from: "zzz" }]);
  assert.equal(f1[0], FRAME_VERSION_V1);
  assert.deepStrictEqual(f1, copy);
});

Deno.test("encodeFrameParts() is encodeFrame's bytes in two parts: the version, the body", () => {
  fc.assert(
    fc.property(fc.array(message, { maxLength: 8 }), (msgs) => {
      const [version, body] = encodeFrameParts(msgs);
      const joined = new Uint8Array(version.byteLength + body.byteLength);
      joined.set(version, 0);
      joined.set(body, version.byteLength);
      assert.deepStrictEqual(joined, encodeFrame(msgs));
    }),
    { numRuns: 200 },
  );
});

Deno.test("decodeFrame() rejects unknown versions, garbage and malformed messages", () => {
  const good = encodeFrame([{
    type: "vote",
    clusterId: "c",
    from: "a",
    to: "b",
    term: 1,
    logTerm: 0,
    index: 0,
    commit: 0,
  }]);
  const v2 = good.slice();
  v2[0] = 2;
  const reason = (f: Uint8Array) => {
    const r = decodeFrame(f);
    return r.ok ? "ok" : r.reason;
  };
  assert.equal(reason(good), "ok");
  assert.match(reason(v2), /unknown frame version 2/);
  assert.match(reason(new Uint8Array([1])), /too short/);
  assert.match(reason(new Uint8Array([1, 0x92, 0x01])), /decode failed/);
  const wrap = (v: unknown) => {
    const f = encodeFrame(v as Message[]);
    return reason(f);
  };
  assert.match(wrap({ not: "array" }), /not an array/);
  assert.match(wrap([{ type: "nope" }]), /bad type/);
  assert.match(wrap([{ type: "vote", clusterId: "c", from: "a", to: "b", term: "1" }]), /term/);
  const entryNoBytes = {
    type: "append",
    clusterId: "c",
    from: "a",
    to: "b",
    term: 1,
    logTerm: 0,
    index: 0,
    commit: 0,
    entries: [{ term: 1, index: 1, kind: 0, data: "text" }],
  };
  assert.match(wrap([entryNoBytes]), /entry data is not bytes/);
  const vote = { type: "vote", clusterId: "c", from: "a", to: "b", term: 1, logTerm: 0 };
  const numbers = { index: 0, commit: 0 };
  assert.match(wrap([{ ...vote, ...numbers, incarnation: 7 }]), /incarnation is not/);
  assert.match(wrap([{ ...vote, ...numbers, toIncarnation: "x".repeat(65) }]), /toIncarnation/);
});

Deno.test("estimateMessageBytes() grows with entry, snapshot and context bytes", () => {
  const base: Message = {
    type: "append",
    clusterId: "c",
    from: "a",
    to: "b",
    term: 1,
    logTerm: 0,
    index: 0,
    commit: 0,
  };
  const withData = {
    ...base,
    entries: [{ term: 1, index: 1, kind: 0 as const, data: new Uint8Array(1000) }],
  };
  assert.ok(estimateMessageBytes(withData) >= estimateMessageBytes(base) + 1000);
  assert.ok(estimateMessageBytes(withData) >= encodeFrame([withData]).byteLength);
});
