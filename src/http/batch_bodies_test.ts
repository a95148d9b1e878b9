import assert from "node:assert/strict";
import fc from "fast-check";
import type { MessageInput } from "../broker/mod.ts";
import { bodiesInPlace } from "./batch_bodies.ts";
import { validatePublish } from "./handlers_messages.ts";
import { toMessageInputs } from "./render.ts";
import { publishSchema } from "./schemas.ts";
import { call, localApp } from "./testing/call.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message input as plain data: its keys in order, its body's bytes as text, its id. */
function plain(ms: readonly MessageInput[]) {
  return ms.map((m) => ({ keys: Object.keys(m), body: decoder.decode(m.body), id: m.id }));
}

/**
 * Reads `bytes` as a publish does (`publishBody`): decode, `JSON.parse`, `validatePublish`; when
 * that gives the parsed body itself, the messages `bodiesInPlace` cuts from the bytes must be
 * what `toMessageInputs` makes. True when they were cut (the fast path taken).
 */
function agrees(bytes: Uint8Array): boolean {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return false;
  }
  // A body zod refuses is refused before its bodies are read (`validatePublish` throws).
  if (!publishSchema.safeParse(json).success) return false;
  const req = validatePublish(json);
  if (req !== json || !("messages" in req)) return false;
  const cut = bodiesInPlace({ bytes }, json);
  if (cut === undefined) return false;
  assert.deepEqual(plain(cut), plain(toMessageInputs(req.messages)), decoder.decode(bytes));
  return true;
}

const agreesText = (text: string) => agrees(encoder.encode(text));

/** Whitespace JSON allows between tokens, and some it does not. */
const space = fc.oneof(
  { weight: 6, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom(" ", "\n", "\t", "\r\n  ", "\u00a0", "\f", "\v") },
);
/** Strings near the scan's edges: empty, the id limit, escapes, quotes, controls, non-ASCII. */
const str = fc.oneof(
  fc.constantFrom(
    "",
    "a",
    "x".repeat(256),
    "x".repeat(257),
    "\u007f",
    "~",
    " ",
    "é",
    "\u2028",
    "\ud800",
    "😀",
    "\\",
    '"',
    "\n",
  ),
  fc.string({ maxLength: 6 }),
  fc.string({ maxLength: 6, unit: "binary" }),
);
/** A string token as JSON writes it, or written another way (an escape JSON.stringify would not use). */
const strToken = fc.oneof(
  { weight: 5, arbitrary: str.map((s) => JSON.stringify(s)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('"\\u0041"', '"a\\/b"', '"\\ud800"', '"unterminated', "'a'"),
  },
);
/** A value token: mostly strings, sometimes anything else JSON has (the scan leaves those). */
const valueToken = fc.oneof(
  { weight: 5, arbitrary: strToken },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.jsonValue({ maxDepth: 1 }).map((v) => JSON.stringify(v)),
      fc.constantFrom("null", "1", "1.0", "[]", "{}", "true", "", "undefined"),
    ),
  },
);
/** A field: the known keys mostly, sometimes another or a key written another way. */
const fieldKey = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('"body"', '"id"') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('"subject"', '"x"', '"bod\\u0079"', '"Body"', "body", '"ID"'),
  },
);
const field = fc.tuple(space, fieldKey, space, space, valueToken, space).map(
  ([a, k, b, c, v, d]) => `${a}${k}${b}:${c}${v}${d}`,
);
const messageText = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.array(field, { minLength: 0, maxLength: 3 }).map((fs) => `{${fs.join(",")}}`),
  },
  { weight: 1, arbitrary: fc.constantFrom("[]", "null", '"m"', "{", '{"body":"a",}') },
);
const batchText = fc.tuple(
  space,
  fc.constantFrom('"messages"', '"messages"', '"messages"', '"message"', '"messages" '),
  space,
  fc.array(fc.tuple(space, messageText, space).map(([a, m, b]) => a + m + b), { maxLength: 4 }),
  fc.constantFrom("", "", "", ',"x":1', ",", "x"),
  space,
).map(([a, key, b, ms, extra, c]) => `${a}{${key}${b}:[${ms.join(",")}]${extra}}${c}`);

/** Printable ASCII strings (the scan's own), as JSON writes them: `"` and `\\` escaped. */
const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 12,
});
/** Batches of the common shape, spaced and ordered any way, with a spoiled value now and then. */
const goodMessage = fc.tuple(
  fc.option(fc.oneof({ weight: 9, arbitrary: printable }, { weight: 1, arbitrary: str })),
  fc.oneof({ weight: 9, arbitrary: printable }, { weight: 1, arbitrary: str }),
  fc.boolean(),
  space,
  space,
).map(([id, body, idFirst, a, b]) => {
  const fields = [`"body"${a}:${b}${JSON.stringify(body)}`];
  if (id !== null) fields[idFirst ? "unshift" : "push"](`${b}"id":${a}${JSON.stringify(id)}`);
  return `{${a}${fields.join(`${b},`)}${b}}`;
});
const goodBatch = fc.tuple(fc.array(fc.tuple(goodMessage, space), { maxLength: 5 }), space).map((
  [ms, a],
) => `${a}{"messages":${a}[${ms.map(([m, b]) => m + b).join(",")}]}`);

/** Compact batches as `JSON.stringify` writes them, either key first, the strings any. */
const compactBatch = fc.array(
  fc.tuple(fc.option(fc.oneof(printable, str)), fc.oneof(printable, str), fc.boolean()),
  { maxLength: 5 },
).map((ms) =>
  JSON.stringify({
    messages: ms.map(([id, body, idFirst]) =>
      id === null ? { body } : idFirst ? { id, body } : { body, id }
    ),
  })
);

Deno.test("bodiesInPlace cuts bodies only where they are toMessageInputs' bytes", () => {
  let taken = 0;
  fc.assert(
    fc.property(
      fc.oneof(batchText, goodBatch, { weight: 3, arbitrary: compactBatch }),
      fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
      (text, bom) => {
        const bytes = encoder.encode(text);
        if (agrees(bom ? new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]) : bytes)) taken++;
      },
    ),
    { numRuns: 20_000 },
  );
  // The generator must reach the shape that is cut, or the property says nothing.
  assert.ok(taken > 1000, `only ${taken} texts were cut`);
});

Deno.test("bodiesInPlace agrees on texts cut or changed anywhere", () => {
  const good = '{"messages":[{"id":"a-1","body":"x y"},{"body":"z","id":"b"},{"body":""}]}';
  assert.ok(agreesText(good));
  for (let i = 0; i <= good.length; i++) {
    agreesText(good.slice(0, i));
    agreesText(good.slice(0, i) + good.slice(i + 1));
    for (const c of ['"', "\\", ",", "}", "]", "{", ":", " ", "\u0000", "é", "1", "😀"]) {
      agreesText(good.slice(0, i) + c + good.slice(i));
      agreesText(good.slice(0, i) + c + good.slice(i + 1));
    }
  }
});

Deno.test("bodiesInPlace takes the peers' batch, and leaves what is not plainly compact", () => {
  const batch = (n: number) =>
    JSON.stringify({
      messages: Array.from({ length: n }, (_, k) => ({ id: `t-1-${k}`, body: "x".repeat(256) })),
    });
  assert.ok(agreesText(batch(1)));
  assert.ok(agreesText(batch(100)));
  assert.ok(agreesText(batch(1000)));
  const cut = (text: string) => bodiesInPlace({ bytes: encoder.encode(text) }, JSON.parse(text));
  // Same length as a compact text, but not one: a repeated key, an escape, a non-ASCII body.
  assert.equal(cut('{"messages":[{"body":"a","body":"b"}]}'), undefined);
  assert.equal(cut('{"messages":[{"body":"\\u0041"}]}'), undefined);
  assert.equal(cut('{"messages":[{"body":"é"}]}'), undefined);
  assert.equal(cut('{"messages":[{"body":1}]}'), undefined);
  assert.equal(cut('{"messages":[{"body":"a","x":"b"}]}'), undefined);
  assert.equal(cut('{"messages":[]}'), undefined);
  assert.equal(cut('{"messages":[{"body":"a"}],"x":"y"}'), undefined);
  assert.equal(cut('{ "messages":[{"body":"a"}]}'), undefined);
  // The id comes first in the request, the body first in the message (as toMessageInputs).
  assert.deepEqual(plain(cut('{"messages":[{"id":"i","body":"b"}]}')!), [
    { keys: ["body", "id"], body: '"b"', id: "i" },
  ]);
});

Deno.test("bodiesInPlace asks for the bytes only of a batch it may cut", () => {
  let asked = 0;
  const body = (text: string) => ({
    get bytes() {
      asked++;
      return encoder.encode(text);
    },
  });
  const mqtt = '{"messages":[{"body":"a","subject":"s.t"}]}';
  assert.equal(bodiesInPlace(body(mqtt), JSON.parse(mqtt)), undefined);
  assert.equal(asked, 0);
  const plainText = '{"messages":[{"body":"a"}]}';
  assert.equal(bodiesInPlace(body(plainText), JSON.parse(plainText))?.length, 1);
  assert.equal(asked, 1);
});

Deno.test("a compact batch (bodies cut) and a spaced one (read as before) publish the same", async () => {
  const messages = [
    { id: "a", body: "x".repeat(256) },
    { body: "" },
    { body: "plain text", id: "b" },
  ];
  const compact = JSON.stringify({ messages });
  const spaced = JSON.stringify({ messages }, null, 1);
  const seen = [];
  for (const text of [compact, spaced]) {
    const { app } = localApp();
    await call(app, "PUT", "/v1/queues/q");
    const published = await call(app, "POST", "/v1/queues/q/messages", text);
    const again = await call(app, "POST", "/v1/queues/q/messages", text);
    const got = await call(app, "POST", "/v1/queues/q/receive", { max: 10 });
    const bodies = got.body.messages.map((m: { id: string; body: unknown }) => [m.id, m.body]);
    seen.push({ published: published.body, status: published.status, again: again.body, bodies });
  }
  assert.deepEqual(seen[0], seen[1]);
  assert.equal(seen[0].status, 201);
  // The message without an id is published again by the second request; the others dedup.
  assert.equal(seen[0].bodies.length, 4);
  assert.deepEqual(seen[0].bodies[0], ["a", "x".repeat(256)]);
  assert.deepEqual(seen[0].again.results[0].duplicate, true);
});

Deno.test("a compact batch's Idempotency-Key fingerprint is the parsed body's", async () => {
  const { app } = localApp();
  await call(app, "PUT", "/v1/queues/q");
  const key = { "idempotency-key": "k-1" };
  const compact = JSON.stringify({ messages: [{ id: "a", body: "b" }] });
  const first = await call(app, "POST", "/v1/queues/q/messages", compact, key);
  assert.equal(first.status, 201);
  // The same request written with spaces is the same request: replayed.
  const spaced = JSON.stringify({ messages: [{ id: "a", body: "b" }] }, null, 2);
  const replay = await call(app, "POST", "/v1/queues/q/messages", spaced, key);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(replay.body, first.body);
  // Another body under the same key is refused.
  const other = JSON.stringify({ messages: [{ id: "a", body: "c" }] });
  const conflict = await call(app, "POST", "/v1/queues/q/messages", other, key);
  assert.equal(conflict.status, 409);
});
