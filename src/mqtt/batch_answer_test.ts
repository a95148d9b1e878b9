import assert from "node:assert/strict";
import fc from "fast-check";
import { readApiAnswer } from "./batch_answer.ts";

/**
 * A batch publish's answer as the API renders it (src/http/render.ts `batchPublished`: one
 * `publishJson` per outcome). Should that rendering change, the scan would stop taking it (and
 * `JSON.parse` read it, as before); the first test here would say so.
 */
function batchPublished(v: { results: readonly Outcome[] }): { text: string } {
  const results = v.results.map((o) =>
    o.ok
      ? { seq: o.seq, id: o.id, duplicate: o.duplicate }
      : { error: { type: o.reason, detail: o.detail } }
  );
  return { text: JSON.stringify({ results }) };
}

type Outcome =
  | { ok: true; seq: number; id: string; duplicate: boolean }
  | { ok: false; reason: string; detail: string };

/** What the gateway reads of a batch answer: per result, published (a seq) or not. */
function publishedFlags(body: unknown): boolean[] | undefined {
  const b = body as { published?: number; results?: { seq?: unknown; error?: unknown }[] };
  if (typeof b?.published === "number") return Array.from({ length: b.published }, () => true);
  if (!Array.isArray(b?.results)) return undefined;
  return b.results.map((r) => r?.seq !== undefined && r?.error === undefined);
}

const ok = fc.record({
  ok: fc.constant(true as const),
  seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  id: fc.string({ unit: "binary", maxLength: 12 }),
  duplicate: fc.boolean(),
});
const failed = fc.record({
  ok: fc.constant(false as const),
  reason: fc.constant("retained_full"),
  detail: fc.string({ maxLength: 8 }),
});

Deno.test("the API's own rendering of published results is read by the scan, as JSON.parse reads it", () => {
  fc.assert(
    fc.property(fc.array(ok, { maxLength: 70 }), (results) => {
      const { text } = batchPublished({ results: results });
      const read = readApiAnswer(text);
      assert.deepEqual(read, { published: results.length });
      assert.deepEqual(publishedFlags(read), publishedFlags(JSON.parse(text)));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("with an error among the results the answer is JSON.parse's", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(ok, failed), { minLength: 1, maxLength: 40 }), (results) => {
      fc.pre(results.some((r) => !r.ok));
      const { text } = batchPublished({ results: results });
      assert.deepEqual(readApiAnswer(text), JSON.parse(text));
    }),
    { numRuns: 1000 },
  );
});

Deno.test("whatever text the scan takes, JSON.parse reads as as many published results", () => {
  // The rendering cut, changed or extended anywhere, and texts built from its pieces.
  const pieces = fc.constantFrom(
    '{"results":[',
    '{"seq":',
    "0",
    "01",
    "7",
    "1e3",
    "-1",
    ',"id":"',
    "a",
    '\\"',
    "\\u00e9",
    "\\u00g9",
    "\\q",
    "\n",
    '"',
    ',"duplicate":false}',
    ',"duplicate":true}',
    ',"duplicate":null}',
    ",",
    "]}",
    " ",
    '{"error":{"type":"retained_full"}}',
  );
  const rendered = fc.array(ok, { maxLength: 5 }).map((rs) => batchPublished({ results: rs }).text);
  const changed = fc.tuple(rendered, fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 3 }))
    .map(([t, at, cut, add]) => {
      const i = at % (t.length + 1);
      return t.slice(0, i) + add + t.slice(Math.min(t.length, i + cut));
    });
  const text = fc.oneof(fc.array(pieces, { maxLength: 14 }).map((p) => p.join("")), changed);
  fc.assert(
    fc.property(text, (t) => {
      let read: unknown;
      try {
        read = readApiAnswer(t);
      } catch {
        // Not taken by the scan, and not JSON: JSON.parse's own error, as before.
        assert.throws(() => JSON.parse(t));
        return;
      }
      const parsed = JSON.parse(t);
      if ((read as { published?: number }).published === undefined) {
        assert.deepEqual(read, parsed);
        return;
      }
      assert.deepEqual(publishedFlags(read), publishedFlags(parsed));
      assert.equal(Object.keys(parsed).length, 1);
    }),
    { numRuns: 20_000 },
  );
});
