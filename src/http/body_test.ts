import assert from "node:assert/strict";
import fc from "fast-check";
import { jsonBodyOfText, readBodyBytes, readJsonBody } from "./body.ts";
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

Deno.test("a body is refused as not UTF-8 exactly when the strict decoder refuses it", async () => {
  const strict = new TextDecoder("utf-8", { fatal: true });
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 12 }),
    fc.string({ unit: "binary", maxLength: 6 }).map((s) =>
      new TextEncoder().encode(JSON.stringify(s))
    ),
    fc.constantFrom(
      new Uint8Array([0x22, 0xef, 0xbf, 0xbd, 0x22]), // "\uFFFD", valid
      new Uint8Array([0x22, 0xff, 0x22]),
      new Uint8Array([0xef, 0xbb, 0xbf, 0x31]), // BOM, then 1
      new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]), // a surrogate's encoding: not UTF-8
    ),
  );
  await fc.assert(
    fc.asyncProperty(bytes, async (b) => {
      let expected: string;
      try {
        const text = strict.decode(b);
        try {
          expected = `json ${JSON.stringify(JSON.parse(text))}`;
        } catch {
          expected = "invalid_request: not JSON";
        }
      } catch {
        expected = "invalid_request: not UTF-8";
      }
      const request = new Request("http://x/", { method: "POST", body: b as BodyInit });
      let got: string;
      try {
        got = `json ${JSON.stringify((await readJsonBody(request, 1000)).json)}`;
      } catch (error) {
        const e = error as { problemType?: string; detail?: string };
        got = `${e.problemType}: ${e.detail?.includes("UTF-8") ? "not UTF-8" : "not JSON"}`;
      }
      if (b.byteLength === 0) return; // an empty body is no JSON at all
      assert.equal(got, expected, String(Array.from(b)));
    }),
    { numRuns: 3000 },
  );
});

Deno.test("readJsonBody: every refusal is the promise's rejection, never a throw of the call", async () => {
  const post = (headers: Record<string, string>, body: string) =>
    new Request("http://n/", { method: "POST", headers, body });
  const declared = post(
    { "content-length": "64", "content-type": "application/json" },
    "x".repeat(64),
  );
  let read: Promise<unknown> | undefined;
  assert.doesNotThrow(() => read = readJsonBody(declared, 10));
  await assert.rejects(read!, tooLarge);
  const lying = post({ "content-length": "5", "content-type": "application/json" }, "x".repeat(64));
  await assert.rejects(readJsonBody(lying, 10), tooLarge);
  const media = post({ "content-type": "text/plain" }, '{"body":"a"}');
  await assert.rejects(
    readJsonBody(media, 100),
    (e: unknown) => e instanceof ProblemError && e.problemType === "unsupported_media_type",
  );
  const ok = post({ "content-type": "application/json" }, '{"body":"a"}');
  assert.deepEqual((await readJsonBody(ok, 100)).json, { body: "a" });
});
