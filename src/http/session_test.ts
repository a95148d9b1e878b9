import assert from "node:assert/strict";
import fc from "fast-check";
import { parseSessionRef } from "./session.ts";

/** What `sessionOf` read the header with before `parseSessionRef`. */
const PATTERN = /^(\d{1,15})\/(\d{1,15})\/(\d{1,15})$/;

function byRegex(text: string) {
  const m = PATTERN.exec(text);
  return m === null ? undefined : { id: Number(m[1]), seq: Number(m[2]), lowest: Number(m[3]) };
}

/** Strings near the header's form: digits, slashes and a few others that could confuse a parser. */
const nearRef = fc.array(
  fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(..."0123456789") },
    { weight: 3, arbitrary: fc.constant("/") },
    {
      weight: 1,
      arbitrary: fc.constantFrom(" ", "\n", "-", "+", ".", "e", "x", "٣", "０", ":", "\0"),
    },
  ),
  { maxLength: 60 },
).map((cs) => cs.join(""));

/** Well-formed references, each part 1 to 17 digits (past the 15 allowed) with leading zeros. */
const digits = fc.array(fc.constantFrom(..."0123456789"), { minLength: 1, maxLength: 17 })
  .map((cs) => cs.join(""));
const wellFormed = fc.tuple(digits, digits, digits).map((p) => p.join("/"));

Deno.test("parseSessionRef reads what the header's regex read, and refuses what it refused", () => {
  fc.assert(
    fc.property(
      fc.oneof(nearRef, wellFormed, fc.string(), fc.string({ unit: "binary" })),
      (text) => {
        assert.deepEqual(parseSessionRef(text), byRegex(text));
      },
    ),
    { numRuns: 20_000 },
  );
});

Deno.test("parseSessionRef: the edges of the form", () => {
  for (
    const text of [
      "",
      "1/2/3",
      "0/0/0",
      "999999999999999/999999999999999/999999999999999",
      "9999999999999999/1/1",
      "1/2/3/",
      "/1/2",
      "1//2",
      "1/2/",
      "1/2/3\n",
      " 1/2/3",
      "001/002/000",
    ]
  ) assert.deepEqual(parseSessionRef(text), byRegex(text), text);
});
