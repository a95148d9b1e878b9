import assert from "node:assert/strict";
import { jsonBodyOfText, readBodyBytes } from "./body.ts";
import { ProblemError } from "./problems.ts";

const tooLarge = (e: unknown) => e instanceof ProblemError && e.problemType === "payload_too_large";

Deno.test("readBodyBytes: a declared length within the limit is read whole; a body past it is refused all the same", async () => {
  const small = new Request("http://n/", {
    method: "POST",
    headers: { "content-length": "5" },
    body: "hello",
  });
  assert.equal(new TextDecoder().decode(await readBodyBytes(small, 10)), "hello");
  // Made in process, a request may declare any length: the limit still holds.
  const lying = new Request("http://n/", {
    method: "POST",
    headers: { "content-length": "5" },
    body: "x".repeat(64),
  });
  await assert.rejects(readBodyBytes(lying, 10), tooLarge);
  const declared = new Request("http://n/", {
    method: "POST",
    headers: { "content-length": "64" },
    body: "x".repeat(64),
  });
  await assert.rejects(readBodyBytes(declared, 10), tooLarge);
});

Deno.test("jsonBodyOfText: the limit counts UTF-8 bytes, and the bytes are the text's", () => {
  // 6 characters, 14 bytes: over a limit of 10 though 6 characters are not.
  assert.throws(() => jsonBodyOfText('"€€€€"', "application/json", 10), tooLarge);
  assert.deepEqual(jsonBodyOfText('"€€"', "application/json", 10).json, "€€");
  const body = jsonBodyOfText('{"body":"€"}', "application/json", 1 << 20);
  assert.deepEqual(body.json, { body: "€" });
  assert.deepEqual(body.bytes, new TextEncoder().encode('{"body":"€"}'));
  assert.equal(jsonBodyOfText("", "text/plain", 10).json, undefined);
  assert.throws(
    () => jsonBodyOfText("{}", "text/plain", 10),
    (e) => e instanceof ProblemError && e.problemType === "unsupported_media_type",
  );
});
