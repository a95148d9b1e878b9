/**
 * Names `.` and `..` are refused (test/sim/FINDINGS.md, 18): a raw request (`curl --path-as-is`)
 * made a queue `..` that no URL-normalizing client (fetch, browsers, the client library) could
 * reach again: its every path resolves to another resource.
 */

import assert from "node:assert/strict";
import { localApp } from "./testing/call.ts";

/** Sends `method path` over a socket as it is (no URL normalization); the status and body. */
async function raw(port: number, method: string, path: string, body = "{}") {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const text = `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    await conn.write(new TextEncoder().encode(text));
    let answer = "";
    const buf = new Uint8Array(65536);
    for (let i = 0; i < 100; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      answer += new TextDecoder().decode(buf.subarray(0, n));
    }
    return { status: Number(answer.split(" ")[1]), body: answer.slice(answer.indexOf("\r\n\r\n")) };
  } finally {
    conn.close();
  }
}

Deno.test("a queue, topic or subscription named . or .. is refused 400, by a raw path too", async () => {
  const { app } = localApp();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    const port = server.addr.port;
    assert.equal((await raw(port, "PUT", "/v1/topics/t")).status, 201);
    for (
      const path of [
        "/v1/queues/..",
        "/v1/queues/.",
        "/v1/topics/..",
        "/v1/topics/t/subscriptions/..",
        "/v1/topics/t/subscriptions/.",
      ]
    ) {
      const r = await raw(port, "PUT", path);
      assert.equal(r.status, 400, `${path}: ${r.body}`);
      assert.match(r.body, /not \. or \.\./);
    }
    for (const name of ["...", ".a", "a..b", "-"]) {
      assert.equal((await raw(port, "PUT", `/v1/queues/${name}`)).status, 201, name);
    }
  } finally {
    await server.shutdown();
  }
});
