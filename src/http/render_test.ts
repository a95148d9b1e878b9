import assert from "node:assert/strict";
import fc from "fast-check";
import type { Delivery, ReceiptResult } from "../broker/mod.ts";
import {
  batchPublished,
  jsonAnswer,
  type MessageRequest,
  publishJson,
  renderDeliveries,
  renderSettle,
  singlePublish,
  toMessageInput,
  toMessageInputs,
  writeAnswerOf,
} from "./render.ts";

Deno.test("singlePublish answers the text of publishJson, 201 new and 200 duplicate", () => {
  const ids = ["a", 'q"uote\\', "é €", "\u0000\n", "x".repeat(256)];
  for (const id of ids) {
    for (const duplicate of [false, true]) {
      for (const seq of [1, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
        const o = { ok: true as const, seq, id, duplicate };
        const answer = singlePublish(o);
        assert.equal(answer.text, JSON.stringify(publishJson(o)));
        assert.equal(answer.status, duplicate ? 200 : 201);
      }
    }
  }
});

Deno.test("batchPublished: the results' text, and their count when every one was published", () => {
  const ok = (seq: number, duplicate = false) => ({
    ok: true as const,
    seq,
    id: `m${seq}`,
    duplicate,
  });
  const failed = { ok: false as const, reason: "retained_full" as const, detail: "full" };
  const cases = [[ok(1)], [ok(1), ok(2, true), ok(3)], [ok(1), failed, ok(3)], [failed]];
  for (const results of cases) {
    const text = JSON.stringify({ results: results.map(publishJson) });
    const all = results.every((r) => r.ok);
    for (const replayed of [false, true]) {
      const w = batchPublished({ results });
      assert.equal(w.published, all ? results.length : undefined);
      // The answer keeps the count; its text is what it was, made when read.
      const answer = writeAnswerOf(w, replayed);
      assert.equal(answer.published, w.published);
      const plain = jsonAnswer(201, text, replayed);
      assert.deepEqual(
        { status: answer.status, headers: answer.headers, text: answer.text },
        { status: plain.status, headers: plain.headers, text: plain.text },
      );
      assert.equal(answer.text, text, "the same text when read again");
    }
  }
});

/** True when every code unit is 7-bit ASCII (a regex over \x00-\x7f trips deno lint). */
const isAscii = (s: string): boolean => [...s].every((c) => c.charCodeAt(0) < 0x80);

Deno.test("toMessageInputs gives each message what toMessageInput gives it, ASCII or not", () => {
  const bodies: unknown[] = [
    "x".repeat(256),
    "",
    { a: [1, 2, { b: null }], c: "d" },
    42,
    null,
    true,
    "é €",
    "emoji 😀 here",
    "\ud800 lone",
    'q"uote\\',
    "\u0000\n",
  ];
  const batches: MessageRequest[][] = [
    bodies.filter((b) => typeof b !== "string" || isAscii(b)).map((body) => ({
      body,
    })),
    bodies.map((body, i) => ({ body, id: `m${i}`, ...(i % 2 ? { ttlMs: 5 } : {}) })),
    [{ body: "a" }, { body: undefined }, { body: "b" }],
    [{ body: "only", group: "g", headers: { h: "v" }, delayMs: 3 }],
    [],
  ];
  for (const batch of batches) {
    const got = toMessageInputs(batch);
    const want = batch.map(toMessageInput);
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
      const { body: gotBody, ...gotRest } = got[i];
      const { body: wantBody, ...wantRest } = want[i];
      assert.deepEqual([...gotBody], [...wantBody], `body ${i}`);
      assert.deepEqual(gotRest, wantRest);
      assert.deepEqual(Object.keys(got[i]), Object.keys(want[i]));
    }
  }
});

Deno.test("renderDeliveries is the JSON of the deliveries, bodies spliced in as stored", () => {
  const enc = new TextEncoder();
  const bodies: unknown[] = ["x".repeat(256), { a: [1, "é €"] }, null, 0, 'q"uote\\'];
  const headers: Record<string, string>[] = [{}, { "x-k": 'v"1', é: "€" }];
  const deliveries: Delivery[] = bodies.map((body, k) => ({
    seq: 1 + k * 2 ** 40,
    id: ["a", 'q"uote\\', "é €", "\u0000\n", "x".repeat(256)][k],
    body: enc.encode(JSON.stringify(body)),
    headers: headers[k % 2],
    ...(k === 1 ? { group: 'g"1' } : {}),
    ...(k === 2 ? { subject: "a.b.c", group: "" } : {}),
    attempt: k + 1,
    receipt: `1.${k.toString(36)}.${k + 1}`,
    leaseExpiresAt: 1_700_000_000_000 + k,
    publishedAt: 1_600_000_000_000 + k,
  }));
  for (const n of [0, 1, deliveries.length]) {
    const some = deliveries.slice(0, n);
    const expected = {
      messages: some.map((d, k) => ({
        seq: d.seq,
        id: d.id,
        body: bodies[k],
        headers: d.headers,
        group: d.group ?? null,
        subject: d.subject ?? null,
        attempt: d.attempt,
        receipt: d.receipt,
        leaseExpiresAt: d.leaseExpiresAt,
        publishedAt: d.publishedAt,
      })),
    };
    assert.equal(renderDeliveries(some), JSON.stringify(expected));
  }
  // A stored body that is not JSON text (none written by this API) still gives JSON.
  const empty = renderDeliveries([{ ...deliveries[0], body: new Uint8Array(0) }]);
  assert.equal((JSON.parse(empty) as { messages: { body: unknown }[] }).messages[0].body, null);
});

Deno.test("renderSettle is the JSON of the results, with a lease end only where there is one", () => {
  const results: ReceiptResult[] = [
    { receipt: "1.a.1", status: "acked" },
    { receipt: 'q"uote\\é', status: "not_found" },
    { receipt: "2.zz.3", status: "extended", leaseExpiresAt: 1_700_000_000_123 },
    { receipt: "", status: "stale" },
  ];
  for (let n = 0; n <= results.length; n++) {
    const some = results.slice(0, n);
    assert.equal(renderSettle(some), JSON.stringify({ results: some }));
  }
});

Deno.test("renderDeliveries: ASCII bodies decoded together, cut where each one ends", () => {
  const enc = new TextEncoder();
  const texts = ['"a"', "", "[1,2]", '"x\\u00e9"', "", "{}", "7"];
  const d = (body: Uint8Array, k: number): Delivery => ({
    seq: k + 1,
    id: `m${k}`,
    body,
    headers: {},
    attempt: 1,
    receipt: `1.${k}.1`,
    leaseExpiresAt: 2,
    publishedAt: 1,
  });
  const alone = (ds: Delivery[]) => ds.map((x) => renderDeliveries([x]).slice(13, -2)).join(",");
  const ascii = texts.map((t, k) => d(enc.encode(t), k));
  const rendered = renderDeliveries(ascii);
  assert.equal(rendered, `{"messages":[${alone(ascii)}]}`);
  assert.deepEqual(
    (JSON.parse(rendered) as { messages: { body: unknown }[] }).messages.map((m) => m.body),
    ["a", null, [1, 2], "xé", null, {}, 7],
  );
  // Bytes that are not one code unit each (a character split across two bodies, a lone
  // continuation byte): every body decoded alone, as `renderDeliveries([one])` does.
  const split = [Uint8Array.of(0x22, 0xe2, 0x82), Uint8Array.of(0xac, 0x22), Uint8Array.of(0x80)];
  const odd = split.map(d);
  assert.equal(renderDeliveries(odd), `{"messages":[${alone(odd)}]}`);
});

Deno.test("toMessageInput property: the body is TextEncoder's bytes of its JSON, and stays so", () => {
  const encoder = new TextEncoder();
  const body = fc.oneof(
    fc.jsonValue(),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    // Around the shared buffer's bound (4 Ki UTF-16 units) and past it.
    fc.string({ minLength: 4090, maxLength: 4100 }),
    fc.string({ unit: "binary", minLength: 1300, maxLength: 1400 }),
  );
  const kept: [Uint8Array, Uint8Array][] = [];
  fc.assert(
    fc.property(body, fc.option(fc.string({ minLength: 1, maxLength: 8 })), (b, id) => {
      const m = toMessageInput(id === null ? { body: b } : { body: b, id });
      const expected = encoder.encode(JSON.stringify(b));
      assert.deepStrictEqual([...m.body], [...expected]);
      assert.equal(m.id, id ?? undefined);
      kept.push([m.body, expected]);
    }),
    { numRuns: 3000 },
  );
  // Later bodies never write over earlier ones (each has bytes of its own in the shared buffer).
  for (const [got, expected] of kept) assert.deepStrictEqual([...got], [...expected]);
});
