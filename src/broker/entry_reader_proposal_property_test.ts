/**
 * The entry reader's proposal path (`readProposal` in `_entry_reader.ts`: the publish shape's keys
 * matched as bytes, its maps made as object literals) against msgpackr's `unpack`, by fast-check:
 * maps written byte by byte near that shape (its keys in any order, repeated, missing or joined by
 * others, as map 16 or fixmap, values of any kind) read back as msgpackr reads them, keys, key
 * order and values alike, or are refused; damaged ones too.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { readEntryValue } from "./_entry_reader.ts";
import { nestedValues, sameAsSteady } from "./_testing_values.ts";
import { concatParts } from "./_snapshot_format.ts";

// msgpackr's JS reader, the oracle here, drops a leading U+FEFF from a string over 64 bytes (its
// TextDecoder does not ignore the BOM); the project's readers keep it, which
// forward_frames_permissions_test.ts and stream_frames_permissions_test.ts check. So the oracle is
// not asked about such strings.
const noLeadingBom = (s: string): string => (s.startsWith("\uFEFF") ? `x${s}` : s);

// envelope.ts's packr: what entries are written with and read back with.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** A map's bytes from its (key, value bytes) pairs, repeated keys kept: map 16 or fixmap. */
interface MapBytes {
  readonly pairs: readonly (readonly [string, Uint8Array])[];
  readonly fixmap: boolean;
}

function mapBytes(m: MapBytes): Uint8Array {
  const n = m.pairs.length;
  const head = m.fixmap && n < 16 ? [0x80 | n] : [0xde, n >> 8, n & 0xff];
  return concatParts([
    Uint8Array.from(head),
    ...m.pairs.flatMap(([k, v]) => [packr.pack(k), v]),
  ]);
}

const scalar = fc.oneof(
  fc.constantFrom(null, undefined, true, false, -0, 0.5, 2 ** 53, "publish", "q"),
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
  fc.maxSafeInteger(),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 12 }).map(noLeadingBom),
  fc.uint8Array({ maxLength: 300 }),
);
const anyKey = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "", "0", "ts", "owner", "idem"),
  fc.string({ maxLength: 8 }),
);
const anyValue = nestedValues(scalar, anyKey).map((v) => packr.pack(v));

/** A map whose keys are mostly `keys` (in order, the usual case), values from `value(key)`. */
function nearMap(
  keys: readonly string[],
  value: (key: string) => fc.Arbitrary<Uint8Array>,
): fc.Arbitrary<Uint8Array> {
  const key = fc.oneof(fc.constantFrom(...keys), anyKey);
  const pair = (k: string) => value(k).map((v) => [k, v] as const);
  const usual = fc.tuple(...keys.map(pair));
  const odd = fc.array(key.chain(pair), { maxLength: 5 });
  return fc.tuple(fc.oneof(usual, usual, odd), fc.boolean(), fc.nat({ max: 9 })).map(
    ([pairs, fixmap, drop]) =>
      mapBytes({
        // Sometimes the usual keys minus the last few (a message without its id).
        pairs: drop < keys.length && drop > 0 ? pairs.slice(0, pairs.length - drop) : pairs,
        fixmap: fixmap && drop === 9,
      }),
  );
}

const message = nearMap(["body", "id"], () => anyValue);
const command = nearMap(
  ["op", "queue", "message"],
  (k) => k === "message" ? fc.oneof(message, anyValue) : anyValue,
);
const sessionRef = nearMap(["id", "seq", "lowest"], () => anyValue);
const proposal = nearMap(
  ["cmd", "session", "owner"],
  (k) =>
    k === "cmd"
      ? fc.oneof(command, command, anyValue)
      : k === "session"
      ? fc.oneof(sessionRef, sessionRef, anyValue)
      : anyValue,
);

/** A batch entry's bytes: the version byte, then `[stamp, ...proposals]`. */
const entry = fc.array(proposal, { minLength: 1, maxLength: 20 }).map((ps) => {
  const n = ps.length + 1;
  return concatParts([
    Uint8Array.of(2, ...(n < 16 ? [0x90 | n] : [0xdc, n >> 8, n & 0xff])),
    packr.pack({ ts: 5 }),
    ...ps,
  ]);
});

/**
 * A topic batch publish's entry: `{cmd: {op, topic, messages}}` whose messages are maps near
 * `{body, headers, subject}` (`readSubjectMessage`: each MQTT PUBLISH's shape).
 */
const headers = nearMap(["mqtt-payload", "mqtt-qos"], () => anyValue);
const topicMessage = nearMap(
  ["body", "headers", "subject"],
  (k) => k === "headers" ? fc.oneof(headers, headers, anyValue) : anyValue,
);
const topicEntry = fc.array(topicMessage, { minLength: 1, maxLength: 20 }).map((ms) => {
  const n = ms.length;
  const messages = concatParts([Uint8Array.of(...(n < 16 ? [0x90 | n] : [0xdc, 0, n])), ...ms]);
  const cmd = mapBytes({
    pairs: [["op", packr.pack("topic_publish_batch")], ["topic", packr.pack("mqtt")], [
      "messages",
      messages,
    ]],
    fixmap: false,
  });
  return concatParts([
    Uint8Array.of(2, 0x92),
    packr.pack({ ts: 5 }),
    mapBytes({ pairs: [["cmd", cmd]], fixmap: false }),
  ]);
});

/** The reader against msgpackr on the same bytes: taken only where msgpackr reads the same. */
function agrees(bytes: Uint8Array): boolean {
  const fast = readEntryValue(bytes, 1);
  if (!fast.ok) return false;
  sameAsSteady(fast.value, () => packr.unpack(bytes.subarray(1)));
  return true;
}

Deno.test("entry reader property: proposals near the publish shape read back as msgpackr reads them", () => {
  let read = 0;
  fc.assert(fc.property(entry, (bytes) => void (agrees(bytes) && read++)), { numRuns: 3000 });
  assert(read > 1000, `read ${read} of 3000`);
});

Deno.test("entry reader property: damaged proposals the reader takes are bytes msgpackr reads the same", () => {
  const damaged = fc.oneof(
    fc.tuple(entry, fc.nat(), fc.nat({ max: 255 })).map(([bytes, at, b]) => {
      const out = bytes.slice();
      out[1 + (at % (out.length - 1))] = b;
      return out;
    }),
    fc.tuple(entry, fc.nat()).map(([bytes, cut]) => bytes.subarray(0, 1 + (cut % bytes.length))),
    fc.tuple(entry, fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([bytes, more]) =>
      concatParts([bytes, more])
    ),
  );
  fc.assert(fc.property(damaged, (bytes) => void agrees(bytes)), { numRuns: 10_000 });
});

Deno.test("entry reader property: topic messages near {body, headers, subject} read back as msgpackr reads them", () => {
  let read = 0;
  fc.assert(fc.property(topicEntry, (bytes) => void (agrees(bytes) && read++)), {
    numRuns: 3000,
  });
  assert(read > 1000, `read ${read} of 3000`);
  const damaged = fc.tuple(topicEntry, fc.nat(), fc.nat({ max: 255 })).map(([bytes, at, b]) => {
    const out = bytes.slice();
    out[1 + (at % (out.length - 1))] = b;
    return out;
  });
  fc.assert(fc.property(damaged, (bytes) => void agrees(bytes)), { numRuns: 5000 });
});

Deno.test("an MQTT PUBLISH's message reads back as msgpackr reads it, its keys in order", () => {
  const body = new TextEncoder().encode(JSON.stringify("x".repeat(256)));
  const headers = { "mqtt-payload": "text", "mqtt-qos": "1" };
  const messages = [
    { body, headers, subject: "a.b" },
    { body, headers: { ...headers, "mqtt-retain": "1" }, subject: "a.b", retain: "set" },
    { body, subject: "a.b", headers },
    { body, headers, subject: "a.b", ttlMs: 5000 },
    { body, headers },
  ];
  const cmd = { op: "topic_publish_batch", topic: "mqtt", messages };
  const bytes = concatParts([Uint8Array.of(2), packr.pack([{ ts: 1 }, { cmd }])]);
  assert(agrees(bytes));
  const read = readEntryValue(bytes, 1) as { ok: true; value: [unknown, { cmd: typeof cmd }] };
  assert.deepEqual(Object.keys(read.value[1].cmd.messages[0]), ["body", "headers", "subject"]);
});

Deno.test("the publish shape is read by the proposal path with the values msgpackr reads", () => {
  const body = new TextEncoder().encode(JSON.stringify("x".repeat(256)));
  const proposals = [
    { cmd: { op: "publish", queue: "q", message: { body, id: "a-1" } } },
    {
      cmd: { op: "publish", queue: "q", message: { body } },
      session: { id: 3, seq: 9, lowest: 2 },
    },
    {
      cmd: { op: "publish", queue: "q", message: { body, id: "a-2" } },
      session: { id: 3, seq: 10, lowest: 2 },
    },
    {
      cmd: { op: "publish", queue: "q", message: { body, id: "a-3" } },
      session: { id: 3, seq: 11, lowest: 2 },
      owner: "tok",
    },
    { cmd: { op: "ack", queue: "q", receipts: ["r"] }, session: { id: 3, seq: 12, lowest: 2 } },
    { cmd: { op: "publish", queue: "q", message: { body, id: "a-4", group: "g" } } },
    { cmd: { op: "publish", queue: "q", message: { body, id: "a-5" } }, idem: { key: "k" } },
  ];
  const bytes = concatParts([Uint8Array.of(2), packr.pack([{ ts: 1 }, ...proposals])]);
  assert(agrees(bytes));
});
