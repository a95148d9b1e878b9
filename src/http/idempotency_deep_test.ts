/**
 * The Idempotency-Key fingerprint of any JSON body the API takes: deeply nested bodies too
 * (test/sim/FINDINGS.md, 16), and the very text the recursive form gave, so keys stored before
 * match their retries after.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson, fingerprint } from "./idempotency.ts";

/** The recursive form `canonicalJson` had until 2026-12-07: the reference. */
function recursive(value: unknown): string {
  if (value === undefined || value === null) return "null";
  if (Array.isArray(value)) return `[${value.map(recursive).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value as Record<string, unknown>).sort();
    const parts = keys.map((k) =>
      `${JSON.stringify(k)}:${recursive((value as Record<string, unknown>)[k])}`
    );
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(value);
}

Deno.test("a body nested 100,000 levels deep has a fingerprint", () => {
  const arrays = JSON.parse("[".repeat(100_000) + "]".repeat(100_000));
  assert.equal(canonicalJson(arrays), "[".repeat(100_000) + "]".repeat(100_000));
  const objects = JSON.parse('{"b":'.repeat(50_000) + "1" + "}".repeat(50_000));
  assert.equal(canonicalJson(objects).length, JSON.stringify(objects).length);
  assert.equal(typeof fingerprint("POST", "/v1/queues/q/messages", { body: arrays }), "string");
});

Deno.test("canonical JSON is the recursive form's text for any JSON value", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      assert.equal(canonicalJson(v), recursive(v));
    }),
    { numRuns: 2_000 },
  );
  assert.equal(canonicalJson(undefined), "null");
  assert.equal(
    canonicalJson({ b: [1, { d: null, c: "x" }], a: true }),
    recursive({
      a: true,
      b: [1, { c: "x", d: null }],
    }),
  );
});
