import assert from "node:assert/strict";
import fc from "fast-check";
import { freePorts } from "../../test/e2e/nodes.ts";
import {
  FAST_STATUS_AVAILABLE,
  hasBodyStatus,
  JSON_ONLY_HEADERS,
  jsonTextResponse,
} from "./fast_response.ts";
import { jsonAnswer, responseOf } from "./render.ts";
import { answerText } from "./in_process.ts";

/** Statuses an answer with a body may have (no 101, 204, 205, 304). */
const statuses = fc.integer({ min: 200, max: 599 }).filter(hasBodyStatus);

Deno.test("this Deno has the fast form jsonTextResponse relies on", () => {
  // Not a behaviour: a Deno without it answers through the constructor (the tests below hold
  // either way). Failing here says the fast path is off, so its saving is gone.
  assert.equal(FAST_STATUS_AVAILABLE, true);
});

Deno.test("jsonTextResponse reads as the constructor's Response (property)", async () => {
  await fc.assert(
    fc.asyncProperty(
      statuses,
      fc.string({ unit: "grapheme", maxLength: 300 }),
      fc.boolean(),
      async (s, t, asBytes) => {
        const body = () => asBytes ? new TextEncoder().encode(t) : t;
        const fast = jsonTextResponse(s, body());
        const plain = new Response(body(), { status: s, headers: JSON_ONLY_HEADERS });
        assert.equal(fast.status, plain.status);
        assert.equal(fast.ok, plain.ok);
        assert.equal(fast.statusText, plain.statusText);
        assert.deepEqual([...fast.headers], [...plain.headers]);
        assert.equal(await fast.text(), await plain.text());
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("responseOf: a JSON answer from the network is the constructor's; in process has no body", async () => {
  for (const status of [200, 201, 409, 429]) {
    const text = `{"seq":${status},"id":"a","duplicate":false}`;
    const net = responseOf(jsonAnswer(status, text, false), false);
    assert.equal(net.status, status);
    assert.equal(net.headers.get("content-type"), "application/json");
    assert.equal(answerText.get(net), text);
    assert.equal(await net.text(), text);
    const replayed = responseOf(jsonAnswer(status, text, true), false);
    assert.equal(replayed.status, status);
    assert.equal(replayed.headers.get("idempotent-replayed"), "true");
    assert.equal(await replayed.text(), text);
    const inProcess = responseOf(jsonAnswer(status, text, false), true);
    assert.equal(inProcess.status, status);
    assert.equal(inProcess.body, null);
    assert.equal(answerText.get(inProcess), text);
  }
});

/** The status, headers (but `date`) and body of `url`'s answer. */
async function wire(url: string): Promise<[number, [string, string][], string]> {
  const res = await fetch(url);
  const headers = [...res.headers].filter(([name]) => name !== "date");
  return [res.status, headers, await res.text()];
}

Deno.test("Deno.serve answers jsonTextResponse as the constructor's Response on the wire", async () => {
  const [port] = freePorts(1);
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    const status = Number(url.searchParams.get("status"));
    const text = url.searchParams.get("text") ?? "";
    // Bytes too: a follower returns its leader's answer as the bytes it got.
    const body = url.searchParams.has("bytes") ? new TextEncoder().encode(text) : text;
    return url.pathname === "/fast"
      ? jsonTextResponse(status, body)
      : new Response(body, { status, headers: JSON_ONLY_HEADERS });
  });
  try {
    const texts = ["{}", `{"seq":1,"id":"é","duplicate":false}`, "x".repeat(5000), ""];
    for (const status of [200, 201, 202, 400, 409, 413, 429, 500, 503, 504]) {
      for (const text of texts) {
        for (const bytes of ["", "&bytes"]) {
          const q = `status=${status}&text=${encodeURIComponent(text)}${bytes}`;
          const fast = await wire(`http://127.0.0.1:${port}/fast?${q}`);
          const plain = await wire(`http://127.0.0.1:${port}/plain?${q}`);
          assert.deepEqual(fast, plain);
          assert.equal(fast[0], status);
          assert.equal(fast[2], text);
        }
      }
    }
  } finally {
    await server.shutdown();
  }
});
