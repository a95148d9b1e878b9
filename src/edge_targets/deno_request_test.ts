/**
 * `forgetRequestHeaders` on this Deno: the probe finds the field, and a served request whose
 * headers were read and then forgotten is not copied when its answer is set (its headers are not
 * readable after the request closed), where one not forgotten is (readable after). A Deno whose
 * server no longer copies them, or keeps them elsewhere, fails here.
 */
import assert from "node:assert/strict";
import { FORGET_HEADERS_AVAILABLE, forgetRequestHeaders } from "./deno_request.ts";

/** Serves one request, reading its `x-a` header (and forgetting them if `forget`). */
async function served(forget: boolean): Promise<{ during: string | null; request: Request }> {
  let seen: { during: string | null; request: Request } | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    seen = { during: request.headers.get("x-a"), request };
    if (forget) forgetRequestHeaders(request);
    return new Response("ok");
  });
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/`, { headers: { "x-a": "1" } });
  assert.equal(await res.text(), "ok");
  await server.shutdown();
  return seen!;
}

Deno.test("forgetRequestHeaders: the probe finds Deno's headers cache", () => {
  assert.ok(FORGET_HEADERS_AVAILABLE);
});

Deno.test("forgetRequestHeaders: the server copies no headers of a request that forgot them", async () => {
  const kept = await served(false);
  assert.equal(kept.during, "1");
  assert.equal(kept.request.headers.get("x-a"), "1", "copied: readable after the answer");
  const forgot = await served(true);
  assert.equal(forgot.during, "1");
  assert.throws(() => forgot.request.headers.get("x-a"), /closed/i, "not copied");
});

Deno.test("forgetRequestHeaders: an open request's headers read again after it", () => {
  const request = new Request("http://x.test/", { headers: { "x-a": "1" } });
  assert.equal(request.headers.get("x-a"), "1");
  forgetRequestHeaders(request);
  assert.equal(request.headers.get("x-a"), "1");
});
