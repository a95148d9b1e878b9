/**
 * How the gateway reads a request's body and what it forwards, with a `CallPort` that records
 * each call instead of a stream: a body of declared length is read without its `ReadableStream`
 * (Deno makes one when `request.body` is read, and `text()` then reads through it: ~9% of the
 * gateway's CPU per publish, docs/edge.md "Session 12"), a chunked one through it, bounded, and
 * a request without a body is forwarded without one.
 */
import assert from "node:assert/strict";
import type { CallPort, StreamAnswer } from "./upstream.ts";
import { createGateway } from "./mod.ts";

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A gateway whose calls are recorded and answered 201 with a JSON text. */
function recording(maxBodyBytes?: number) {
  const sent: Sent[] = [];
  const port: CallPort = {
    node: "n1",
    gather: () => undefined,
    send(method, path, headers, body) {
      sent.push({ method, path, headers, body });
      const answer: StreamAnswer = {
        status: 201,
        headers: { "content-type": "application/json" },
        text: '{"id":"m1"}',
      };
      return Promise.resolve(answer);
    },
  };
  const gateway = createGateway({
    upstream: port,
    ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}),
  });
  return { sent, fetch: async (r: Request) => await gateway.fetch(r) };
}

/** `request`, counting the reads of its `body` getter. */
function watched(request: Request): { request: Request; bodyReads: () => number } {
  let reads = 0;
  const proto = Object.getPrototypeOf(request);
  const getter = Object.getOwnPropertyDescriptor(proto, "body")!.get!;
  Object.defineProperty(request, "body", {
    get() {
      reads++;
      return getter.call(request);
    },
  });
  return { request, bodyReads: () => reads };
}

const URL_ = "http://gw.test/v1/queues/q/messages";
const TEXT = JSON.stringify({ body: "x".repeat(256) });

Deno.test("edge body: a declared length is read whole without the body's stream", async () => {
  const { sent, fetch } = recording();
  const { request, bodyReads } = watched(
    new Request(URL_, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": String(new TextEncoder().encode(TEXT).byteLength),
        "idempotency-key": "k1",
      },
      body: TEXT,
    }),
  );
  const res = await fetch(request);
  assert.equal(res.status, 201);
  assert.equal(await res.text(), '{"id":"m1"}');
  assert.equal(bodyReads(), 0, "request.body was not read");
  assert.deepEqual(sent, [{
    method: "POST",
    path: "/v1/queues/q/messages",
    headers: { "content-type": "application/json", "idempotency-key": "k1" },
    body: TEXT,
  }]);
});

Deno.test("edge body: a declared length over the limit is 413, nothing read or sent", async () => {
  const { sent, fetch } = recording(100);
  const { request, bodyReads } = watched(
    new Request(URL_, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": "300" },
      body: "y".repeat(300),
    }),
  );
  const res = await fetch(request);
  assert.equal(res.status, 413);
  assert.equal((await res.json()).type, "payload_too_large");
  assert.equal(bodyReads(), 0);
  assert.equal(sent.length, 0);
});

Deno.test("edge body: undeclared (chunked) bodies are read through the stream, bounded", async () => {
  const chunked = (parts: string[]) =>
    new Request(URL_, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(c) {
          for (const p of parts) c.enqueue(new TextEncoder().encode(p));
          c.close();
        },
      }),
    });
  const { sent, fetch } = recording(100);
  const ok = await fetch(chunked(['{"body":', '"é"}']));
  assert.equal(ok.status, 201);
  await ok.body?.cancel();
  assert.equal(sent[0].body, '{"body":"é"}');
  const big = await fetch(chunked(["z".repeat(60), "z".repeat(60)]));
  assert.equal(big.status, 413);
  await big.body?.cancel();
  assert.equal(sent.length, 1);
});

Deno.test("edge body: a request without a body is forwarded without one; GET and HEAD too", async () => {
  const { sent, fetch } = recording();
  for (const method of ["DELETE", "GET", "HEAD"]) {
    const res = await fetch(new Request("http://gw.test/v1/queues/q", { method }));
    await res.body?.cancel();
  }
  assert.deepEqual(sent.map((s) => [s.method, s.body]), [
    ["DELETE", undefined],
    ["GET", undefined],
    ["GET", undefined],
  ]);
});
