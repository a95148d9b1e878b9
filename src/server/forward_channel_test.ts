import assert from "node:assert/strict";
import {
  type ForwardedRequest,
  ForwardNotSentError,
  forwardToLeader,
  type LeaderAnswer,
  ProblemError,
} from "../http/mod.ts";
import { DEFAULT_LIMITS } from "../../cluster/transport/mod.ts";
import { createLogger } from "../log.ts";
import { localApp } from "../http/testing/call.ts";
import { ForwardChannels } from "./forward_channel.ts";
import {
  type AppFetch,
  FORWARD_LISTENER_SILENCE_MS,
  handleForwardUpgrade,
} from "./forward_endpoint.ts";
import { FORWARD_PATH } from "./forward_frames.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const log = createLogger({ level: "error", write: () => {} });
const limits = { connectTimeoutMs: 500, keepaliveMs: 50, silenceMs: 300 };
/**
 * For the tests that are not about silence: a loaded machine (CI at load ~20) stalls a process
 * for more than 300 ms now and then, which dropped a channel in the middle of such a test.
 */
const steadyLimits = { ...limits, silenceMs: 10_000 };

/** A listener whose forwarding path runs `app` (the leader's end). */
function leader(app: AppFetch, silenceMs?: number) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === FORWARD_PATH
        ? handleForwardUpgrade(req, app, log, { silenceMs })
        : new Response("not found", { status: 404 }),
  );
  return { base: `http://127.0.0.1:${server.addr.port}`, server };
}

/** A listener that accepts the WebSocket and then does `onSocket` with it (a broken leader). */
function rawLeader(onSocket: (ws: WebSocket) => void) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => onSocket(socket);
    return response;
  });
  return { base: `http://127.0.0.1:${server.addr.port}`, server };
}

/** A forwarded request of `path` on `base`. */
function fwd(
  base: string,
  path: string,
  init: { method?: string; body?: string; headers?: [string, string][]; timeoutMs?: number } = {},
): ForwardedRequest {
  return {
    leaderUrl: base,
    path,
    method: init.method ?? "POST",
    headers: init.headers ?? [],
    body: init.body === undefined ? undefined : new TextEncoder().encode(init.body),
    signal: AbortSignal.timeout(init.timeoutMs ?? 5_000),
  };
}

const text = (a: LeaderAnswer) => new TextDecoder().decode(a.body);

/** Forwards one write the way the app does, through `channels`; answers the problem type. */
async function forwardProblem(channels: ForwardChannels, base: string, timeoutMs = 5_000) {
  try {
    await forwardToLeader({
      request: new Request(`${base}/v1/queues/q/messages`, { method: "POST" }),
      bodyBytes: new TextEncoder().encode('{"body":1}'),
      leaderUrl: base,
      nodeId: "n2",
      leaderFetch: channels.fetch,
      timeoutMs,
    });
    return "answered";
  } catch (e) {
    return e instanceof ProblemError ? e.problemType : `not a problem: ${e}`;
  }
}

Deno.test({
  name: "ForwardChannels carries method, path, query, headers and body, and the whole answer",
  ...opts,
  async fn() {
    const { base, server } = leader(async (req) => {
      const body = await req.text();
      const url = new URL(req.url);
      if (url.pathname === "/empty") return new Response(null, { status: 204 });
      return Response.json(
        { method: req.method, path: url.pathname + url.search, k: req.headers.get("x-k"), body },
        { status: 201, headers: { "x-answer": "yes" } },
      );
    });
    const channels = new ForwardChannels(steadyLimits);
    try {
      const res = await channels.fetch(fwd(base, "/v1/queues/q/messages?a=1", {
        headers: [["x-k", "v"], ["content-type", "application/json"]],
        body: '{"id":"m1"}',
      }));
      assert.equal(res.status, 201);
      assert.equal(new Headers([...res.headers]).get("x-answer"), "yes");
      assert.deepEqual(JSON.parse(text(res)), {
        method: "POST",
        path: "/v1/queues/q/messages?a=1",
        k: "v",
        body: '{"id":"m1"}',
      });
      const empty = await channels.fetch(fwd(base, "/empty", { method: "DELETE" }));
      assert.equal(empty.status, 204);
      assert.equal(text(empty), "");
    } finally {
      channels.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "ForwardChannels matches answers that come back out of order on one socket",
  ...opts,
  async fn() {
    const { base, server } = leader(async (req) => {
      const ms = Number(await req.text());
      await new Promise((r) => setTimeout(r, ms));
      return new Response(String(ms));
    });
    const channels = new ForwardChannels(steadyLimits);
    try {
      const delays = [120, 10, 60, 0, 90];
      const answers = await Promise.all(
        delays.map((ms) => channels.fetch(fwd(base, "/x", { body: String(ms) })).then(text)),
      );
      assert.deepEqual(answers, delays.map(String));
    } finally {
      channels.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "a leader that cannot be reached: nothing was sent (ForwardNotSentError, no_leader)",
  ...opts,
  async fn() {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const base = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
    l.close();
    const channels = new ForwardChannels(limits);
    await assert.rejects(
      () => channels.fetch(fwd(base, "/x", { body: "1" })),
      ForwardNotSentError,
    );
    assert.equal(await forwardProblem(channels, base), "no_leader");
    channels.close();
  },
});

Deno.test({
  name: "a socket lost after the request was sent: maybe applied (unknown_outcome)",
  ...opts,
  async fn() {
    const { base, server } = rawLeader((ws) => {
      ws.onmessage = () => ws.close(1011, "crashed");
    });
    const channels = new ForwardChannels(limits);
    try {
      assert.equal(await forwardProblem(channels, base), "unknown_outcome");
    } finally {
      channels.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "a leader gone silent fails pending requests after silenceMs, not at their deadline",
  ...opts,
  async fn() {
    // Accepts the socket and then answers nothing at all, pings included (a partition).
    const { base, server } = rawLeader(() => {});
    const channels = new ForwardChannels(limits);
    try {
      const started = Date.now();
      assert.equal(await forwardProblem(channels, base, 20_000), "unknown_outcome");
      const tookMs = Date.now() - started;
      assert.ok(tookMs < 10_000, `failed after ${tookMs} ms, the deadline was 20 s`);
    } finally {
      channels.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "a request whose deadline passes before the answer: unknown_outcome; the socket lives on",
  ...opts,
  async fn() {
    let calls = 0;
    const { base, server } = leader(() => {
      calls++;
      // The first request never gets an answer; later ones do.
      return calls === 1 ? new Promise<Response>(() => {}) : new Response("ok");
    });
    const channels = new ForwardChannels(limits);
    try {
      assert.equal(await forwardProblem(channels, base, 200), "unknown_outcome");
      assert.equal(text(await channels.fetch(fwd(base, "/x", { body: "1" }))), "ok");
    } finally {
      channels.close();
      await server.shutdown();
    }
  },
});

/** A bare WebSocket to the leader's forwarding end, open, and its close code to come. */
async function openBare(base: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(`${base.replace("http", "ws")}${FORWARD_PATH}`);
  const closed = new Promise<number>((resolve) => ws.onclose = (ev) => resolve(ev.code));
  await new Promise((resolve) => ws.onopen = resolve);
  return { ws, closed };
}

Deno.test({
  name: "the leader's end closes a socket that sends a malformed frame",
  ...opts,
  async fn() {
    const { base, server } = leader(() => new Response("never"));
    try {
      const { ws, closed } = await openBare(base);
      ws.send(new Uint8Array([1, 0xc1, 0xff]));
      assert.equal(await closed, 4002);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "the leader's end keeps a channel whose follower is silent past the follower's own 2 s bound (a starting or stalled follower)",
  ...opts,
  async fn() {
    // A follower's writes in flight become unknown outcomes when the leader drops its channel:
    // only the follower, who hears the pongs, decides when a channel is dead and redials.
    const { base, server } = leader(() => new Response("never"));
    try {
      const { ws, closed } = await openBare(base);
      let code: number | undefined;
      closed.then((c) => code = c);
      await new Promise((r) => setTimeout(r, DEFAULT_LIMITS.linkSilenceMs + 1_000));
      assert.equal(code, undefined, `closed with ${code}`);
      assert.equal(ws.readyState, WebSocket.OPEN);
      ws.close();
      await closed;
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "the leader's end drops a channel whose follower stays silent (a dead follower)",
  ...opts,
  async fn() {
    assert.ok(FORWARD_LISTENER_SILENCE_MS > DEFAULT_LIMITS.linkSilenceMs);
    const { base, server } = leader(() => new Response("never"), 500);
    try {
      const { closed } = await openBare(base);
      assert.equal(await closed, 4005);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "a write forwarded to the node's own app: the answer made in process arrives whole, " +
    "a body that is not UTF-8 is refused as over HTTP",
  ...opts,
  async fn() {
    const { app } = localApp();
    const { base, server } = leader(app.fetch);
    const channels = new ForwardChannels(steadyLimits);
    const json: [string, string] = ["content-type", "application/json"];
    try {
      const put = await channels.fetch(fwd(base, "/v1/queues/q", { method: "PUT", body: "{}" }));
      assert.equal(put.status, 201, text(put));
      const published = await channels.fetch(fwd(base, "/v1/queues/q/messages", {
        headers: [json],
        body: JSON.stringify({ id: "m1", body: "hé" }),
      }));
      assert.equal(published.status, 201, text(published));
      assert.equal(new Headers([...published.headers]).get("content-type"), "application/json");
      assert.deepEqual(JSON.parse(text(published)), { seq: 1, id: "m1", duplicate: false });
      const bad = await channels.fetch({
        ...fwd(base, "/v1/queues/q/messages", { headers: [json] }),
        body: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]),
      });
      assert.equal(bad.status, 400);
      assert.match(text(bad), /not valid UTF-8/);
    } finally {
      channels.close();
      await server.shutdown();
    }
  },
});
