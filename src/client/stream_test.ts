/**
 * The stream (`/v1/stream`) over real sockets: the HTTP app of an in-process node served by
 * `Deno.serve`, the client's stream end. Every operation, its problems, a lost stream with a
 * write in flight (then an exactly-once retry), and frames that are not well formed.
 */
import assert from "node:assert/strict";
import { Packr } from "msgpackr";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { Client } from "./client.ts";
import { QueueNotFound, TransactionFailed } from "./errors.ts";
import { StreamConnection, StreamLost } from "./stream.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

/** A node on 127.0.0.1 (port 0); `gate` holds proposals until released, when set. */
function serveNode(node = new LocalNode()) {
  const app = createApp({ node, log: silentLogger });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  return { node, url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

Deno.test({
  name: "stream: every client operation rides the stream with the HTTP API's answers",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const client = new Client({ nodes: [url], transport: "stream" });
    try {
      assert.equal(client.transport.kind, "stream");
      await client.createQueue("jobs", { leaseMs: 5_000 });
      const one = await client.publish("jobs", { body: { n: 1 }, id: "a" });
      assert.equal(one.duplicate, false);
      assert.equal((await client.publish("jobs", { body: { n: 1 }, id: "a" })).duplicate, true);
      assert.equal((await client.publishBatch("jobs", [{ body: 2 }, { body: 3 }])).length, 2);
      const got = await client.receive("jobs", { max: 10 });
      assert.deepEqual(got.map((m) => m.body), [{ n: 1 }, 2, 3]);
      assert.equal((await client.extend("jobs", got[0].receipt, 2_000))[0].status, "extended");
      assert.equal((await client.nack("jobs", got[1].receipt, 0))[0].status, "nacked");
      const acks = await client.ack("jobs", [got[0].receipt, got[2].receipt]);
      assert.deepEqual(acks.map((r) => r.status), ["acked", "acked"]);
      assert.equal((await client.messageStatus("jobs", "a")).state, "acked");
      const [again] = await client.receive("jobs");
      const tx = await client.transaction({
        ack: [{ queue: "jobs", receipt: again.receipt }],
        publish: [{ queue: "jobs", body: "next" }],
      });
      assert.equal(tx.ack?.[0].status, "acked");
      await assert.rejects(
        client.transaction({ ack: [{ queue: "jobs", receipt: again.receipt }], publish: [] }),
        TransactionFailed,
      );
      assert.equal((await client.getQueue("jobs")).ready, 1);
      await assert.rejects(client.publish("nope", { body: 1 }), QueueNotFound);
      // Writes went in the client's session (opened over the stream).
      assert.ok(client.transport.sessionId !== undefined);
      assert.equal(node.state.queue("jobs")?.stats.ready, 1);
    } finally {
      await client.close();
      await stop();
    }
  },
});

Deno.test({
  name: "stream: topics, subjects, subscriptions and the log read",
  ...strict,
  async fn() {
    const { url, stop } = serveNode();
    const client = new Client({ nodes: [url], transport: "stream" });
    try {
      await client.topics.create("events");
      await client.subscriptions.create("events", "eu", { filter: "eu.>" });
      await client.topics.publish("events", { body: 1, subject: "eu.fr" });
      await client.topics.publish("events", { body: 2, subject: "us.ny" });
      const page = await client.topics.read("events", { fromSeq: 1 });
      assert.deepEqual(page.map((m) => m.body), [1, 2]);
      const got = await client.receive({ topic: "events", subscription: "eu" }, { max: 10 });
      assert.deepEqual(got.map((m) => m.body), [1]);
      const acks = await client.ack({ topic: "events", subscription: "eu" }, got[0].receipt);
      assert.equal(acks[0].status, "acked");
    } finally {
      await client.close();
      await stop();
    }
  },
});

/** Holds every proposal of `node` until `release()`; `proposed` resolves at the first one. */
function gateProposals(node: LocalNode) {
  const propose = node.propose.bind(node);
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let proposed!: () => void;
  const first = new Promise<void>((r) => proposed = r);
  node.propose = async (p, o) => {
    proposed();
    await gate;
    return await propose(p, o);
  };
  return { release, proposed: first };
}

Deno.test({
  name: "stream: a stream lost with a write in flight ends it unknown; the retry applies once",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const conn = await StreamConnection.open(url);
    const again = await StreamConnection.open(url);
    try {
      await conn.request("PUT", "/v1/queues/q", {}, "{}");
      const opened = await conn.request("POST", "/v1/sessions", {}, "{}");
      const { session } = await opened.json();
      const gate = gateProposals(node);
      const place = { "quorumq-session": `${session}/1/1` };
      const write = conn.request("POST", "/v1/queues/q/messages", place, '{"body":"once"}');
      await gate.proposed;
      await conn.close();
      await assert.rejects(write, StreamLost);
      gate.release();
      const retry = await again.request("POST", "/v1/queues/q/messages", place, '{"body":"once"}');
      assert.equal(retry.status, 201);
      assert.equal(retry.headers.get("idempotent-replayed"), "true");
      assert.equal(node.state.queue("q")?.stats.ready, 1);
    } finally {
      await again.close();
      await stop();
    }
  },
});

Deno.test({
  name: "stream: the client retries a write whose stream was lost, in its session, once",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const client = new Client({ nodes: [url], transport: "stream", retry: { baseDelayMs: 1 } });
    try {
      await client.createQueue("q");
      const gate = gateProposals(node);
      const write = client.publish("q", { body: "once" });
      await gate.proposed;
      await (await client.transport.streams!.connection(url)).close();
      gate.release();
      const result = await write;
      assert.equal(result.duplicate, false);
      assert.equal(node.state.queue("q")?.stats.ready, 1);
    } finally {
      await client.close();
      await stop();
    }
  },
});

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** A raw socket to `/v1/stream`: sends bytes, collects decoded frames and the close. */
async function rawSocket(url: string) {
  const socket = new WebSocket(url.replace("http", "ws") + "/v1/stream");
  socket.binaryType = "arraybuffer";
  const frames: Record<string, unknown>[] = [];
  /** Frames per WebSocket message received (a batch is one message of several). */
  const messages: number[] = [];
  let onFrame = () => {};
  socket.onmessage = (e) => {
    const bytes = new Uint8Array(e.data as ArrayBuffer);
    const v = packr.unpack(bytes.subarray(1));
    const got = Array.isArray(v) ? v : [v];
    messages.push(got.length);
    frames.push(...got);
    onFrame();
  };
  const closed = new Promise<CloseEvent>((r) => socket.onclose = r);
  await new Promise((r) => socket.onopen = r);
  const next = async () => {
    for (let i = 0; i < 100 && frames.length === 0; i++) {
      await new Promise<void>((r) => onFrame = r);
    }
    return frames.shift()!;
  };
  const frame = (v: unknown, version = 1) => new Uint8Array([version, ...packr.pack(v)]);
  return { socket, next, closed, frame, messages };
}

Deno.test({
  name: "stream: bad frames get an error answer or a close reason, and the node carries on",
  ...strict,
  async fn() {
    const { url, stop } = serveNode();
    try {
      const a = await rawSocket(url);
      a.socket.send(a.frame({ t: "req", i: 7, m: "get me", p: "/v1/queues" }));
      const bad = await a.next();
      assert.equal(bad.i, 7);
      assert.equal(JSON.parse(bad.j as string).type, "invalid_request");
      // A method no route takes gets the app's own 405 and Allow, as over HTTP.
      a.socket.send(a.frame({ t: "req", i: 6, m: "PATCH", p: "/v1/queues" }));
      const patch = await a.next();
      assert.equal(patch.s, 405);
      assert.equal(JSON.parse(patch.j as string).type, "method_not_allowed");
      assert.match((patch.h as Record<string, string>).allow, /GET/);
      a.socket.send(a.frame({ t: "req", i: 8, m: "GET", p: "/v1/queues" }));
      assert.equal((await a.next()).s, 200);
      const h = { "quorumq-session": "1/1/1" };
      a.socket.send(a.frame({ t: "consume", i: 10, p: "/v1/queues/q/receive", n: 1, h }));
      const refused = await a.next();
      assert.equal(refused.i, 10);
      assert.match(JSON.parse(refused.j as string).detail, /may carry only authorization/);
      a.socket.send(a.frame({ t: "req", i: 9 }, 2));
      const fatal = await a.next();
      assert.match(JSON.parse(fatal.j as string).detail, /version 2 is not supported/);
      assert.equal((await a.closed).code, 1002);
      const b = await rawSocket(url);
      b.socket.send("text");
      assert.equal((await b.closed).code, 1003);
      const c = await rawSocket(url);
      c.socket.send(new Uint8Array([1, 0x05]));
      assert.match(JSON.parse((await c.next()).j as string).detail, /not a msgpack map/);
      assert.equal((await c.closed).code, 1002);
      const d = await rawSocket(url);
      d.socket.send(new Uint8Array([1, 0x82, 0xa1]));
      assert.match(JSON.parse((await d.next()).j as string).detail, /not msgpack/);
      assert.equal((await d.closed).code, 1002);
      const plain = await fetch(`${url}/v1/stream`);
      assert.equal((await plain.json()).type, "invalid_request");
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "stream: an idle stream closes by itself and the next call opens a new one",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const client = new Client({ nodes: [url], transport: "stream", streamIdleMs: 20 });
    try {
      await client.createQueue("q");
      const first = await client.transport.streams!.connection(url);
      await first.closed;
      await client.publish("q", { body: 1 });
      const second = await client.transport.streams!.connection(url);
      assert.notEqual(second, first);
      assert.equal(node.state.queue("q")?.stats.ready, 1);
    } finally {
      await client.close();
      await stop();
    }
  },
});

Deno.test({
  name:
    "stream: calls one after another share one idle timer, and the stream still closes when idle",
  ...strict,
  async fn() {
    const { url, stop } = serveNode();
    const stream = await StreamConnection.open(url);
    const realSet = globalThis.setTimeout;
    const IDLE_MS = 61_234; // tells the idle timer from any other
    let idleTimers = 0;
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      if (ms !== undefined && ms > IDLE_MS - 100 && ms <= IDLE_MS) idleTimers++;
      return realSet(fn, ms);
    }) as typeof setTimeout;
    try {
      stream.idleMs = IDLE_MS;
      assert.equal((await stream.request("PUT", "/v1/queues/q", {}, "{}")).status, 201);
      for (let i = 0; i < 50; i++) {
        const res = await stream.request("POST", "/v1/queues/q/messages", {}, '{"body":1}');
        assert.equal(res.status, 201);
      }
      assert.equal(idleTimers, 1, "one idle timer for 51 calls one after another");
      stream.drain(); // idle now: closes at once, the long timer notwithstanding
      assert.equal((await stream.closed, stream.lost), true);
    } finally {
      globalThis.setTimeout = realSet;
      if (!stream.lost) await stream.close();
      await stop();
    }
  },
});

Deno.test({
  name: "stream: a cancelled long poll ends at once without leasing what arrives after",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const a = await rawSocket(url);
    try {
      a.socket.send(a.frame({ t: "req", i: 1, m: "PUT", p: "/v1/queues/q", j: "{}" }));
      assert.equal((await a.next()).s, 201);
      const poll = JSON.stringify({ max: 10, waitMs: 60_000 });
      a.socket.send(a.frame({ t: "req", i: 2, m: "POST", p: "/v1/queues/q/receive", j: poll }));
      a.socket.send(a.frame({ t: "cancel", i: 2 }));
      const pub = JSON.stringify({ body: "after" });
      a.socket.send(a.frame({ t: "req", i: 3, m: "POST", p: "/v1/queues/q/messages", j: pub }));
      const answers = [await a.next(), await a.next()];
      const polled = answers.find((f) => f.i === 2)!;
      assert.deepEqual(JSON.parse(polled.j as string).messages, []);
      assert.equal(answers.find((f) => f.i === 3)!.s, 201);
      assert.equal(node.state.queue("q")?.stats.ready, 1);
      assert.equal(node.state.queue("q")?.stats.leased, 0);
    } finally {
      a.socket.close();
      await a.closed;
      await stop();
    }
  },
});

Deno.test({
  name: "stream: a body over --max-body-bytes is 413, a body that is not JSON is 400, as on HTTP",
  ...strict,
  async fn() {
    const node = new LocalNode();
    const app = createApp({ node, log: silentLogger, limits: { maxBodyBytes: 64 } });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    const a = await rawSocket(`http://127.0.0.1:${server.addr.port}`);
    try {
      a.socket.send(a.frame({ t: "req", i: 1, m: "PUT", p: "/v1/queues/q", j: "{}" }));
      assert.equal((await a.next()).s, 201);
      // 64 bytes of UTF-8 but fewer characters: the limit counts bytes.
      const big = JSON.stringify({ body: "é".repeat(28) });
      a.socket.send(a.frame({ t: "req", i: 2, m: "POST", p: "/v1/queues/q/messages", j: big }));
      const tooLarge = await a.next();
      assert.equal(tooLarge.s, 413);
      assert.equal(JSON.parse(tooLarge.j as string).maxBytes, 64);
      const fits = JSON.stringify({ body: "é".repeat(20) });
      a.socket.send(a.frame({ t: "req", i: 3, m: "POST", p: "/v1/queues/q/messages", j: fits }));
      assert.equal((await a.next()).s, 201);
      a.socket.send(a.frame({ t: "req", i: 4, m: "POST", p: "/v1/queues/q/messages", j: "{" }));
      const notJson = await a.next();
      assert.equal(notJson.s, 400);
      assert.match(JSON.parse(notJson.j as string).detail, /not valid JSON/);
      assert.equal(node.state.queue("q")?.stats.ready, 1);
    } finally {
      a.socket.close();
      await a.closed;
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "stream: frames come in batches both ways once both ends said so in hello, one at a time else",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    try {
      // A client that did not ask for batches (an older one) gets one frame per message, even
      // for the answers of a batch it sent.
      const old = await rawSocket(url);
      old.socket.send(old.frame({ t: "hello" }));
      assert.equal((await old.next()).batch, undefined);
      const pub = (i: number) => ({
        t: "req",
        i,
        m: "POST",
        p: "/v1/queues/q/messages",
        j: JSON.stringify({ body: i }),
      });
      old.socket.send(old.frame({ t: "req", i: 1, m: "PUT", p: "/v1/queues/q", j: "{}" }));
      assert.equal((await old.next()).s, 201);
      old.socket.send(old.frame([pub(2), pub(3), pub(4)]));
      const oldAnswers = [await old.next(), await old.next(), await old.next()];
      assert.deepEqual(oldAnswers.map((f) => f.s), [201, 201, 201]);
      assert.ok(old.messages.every((n) => n === 1));
      old.socket.close();
      await old.closed;

      // A client that asked: a batch is taken frame by frame (a bad one is answered alone, the
      // rest go on), and answers may come back several to a message.
      const a = await rawSocket(url);
      a.socket.send(a.frame({ t: "hello", batch: true }));
      assert.equal((await a.next()).batch, true);
      const bad = { t: "req", i: 11, m: "GET", p: "/not-the-api" };
      a.socket.send(a.frame([pub(10), bad, ...Array.from({ length: 50 }, (_, k) => pub(12 + k))]));
      const answers = new Map<number, Record<string, unknown>>();
      for (let k = 0; k < 52; k++) {
        const f = await a.next();
        answers.set(f.i as number, f);
      }
      assert.equal(JSON.parse(answers.get(11)!.j as string).type, "invalid_request");
      for (const i of [10, ...Array.from({ length: 50 }, (_, k) => 12 + k)]) {
        assert.equal(answers.get(i)!.s, 201);
      }
      assert.equal(node.state.queue("q")?.stats.ready, 3 + 51);
      // An empty batch or a batch holding something other than maps cannot be read: closed.
      a.socket.send(a.frame([]));
      assert.match(JSON.parse((await a.next()).j as string).detail, /a batch holds 1 to 4096/);
      assert.equal((await a.closed).code, 1002);
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "stream: 500 publishes in flight on one client stream, each answered once, in batches",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const client = new Client({ nodes: [url], transport: "stream" });
    try {
      await client.createQueue("q");
      const results = await Promise.all(
        Array.from({ length: 500 }, (_, i) => client.publish("q", { body: i, id: `m${i}` })),
      );
      assert.deepEqual(results.map((r) => r.id), Array.from({ length: 500 }, (_, i) => `m${i}`));
      assert.ok(results.every((r) => !r.duplicate));
      assert.equal(node.state.queue("q")?.stats.ready, 500);
    } finally {
      await client.close();
      await stop();
    }
  },
});
