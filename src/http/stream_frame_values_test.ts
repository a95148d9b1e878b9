/**
 * What a node makes of the msgpack values other libraries write in a stream `req` body, sent as
 * raw frames over a real stream to an in-process node, and what an HTTP consumer then receives:
 * a 64-bit integer that is a safe integer is a number; one that is not is refused (400, to its
 * `i`, the stream open, nothing stored); a float32 is the number it holds; an extension (a
 * timestamp, any other type) is refused.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FLOAT32_OPTIONS, Packr } from "msgpackr";
import { silentLogger } from "../log.ts";
import { createApp } from "./app.ts";
import { LocalNode } from "./testing/local_node.ts";

/** A raw stream: frames packed by msgpackr as a Python or Go client would pack them. */
class RawStream {
  readonly #ws: WebSocket;
  readonly #frames: Record<string, unknown>[] = [];
  readonly #waiters: (() => void)[] = [];
  readonly #packr = new Packr({
    useRecords: false,
    mapsAsObjects: true,
    useFloat32: FLOAT32_OPTIONS.ALWAYS,
  });

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onmessage = (e) => {
      const v = this.#packr.unpack(new Uint8Array(e.data as ArrayBuffer).subarray(1));
      for (const f of Array.isArray(v) ? v : [v]) this.#frames.push(f);
      this.#waiters.splice(0).forEach((w) => w());
    };
  }

  static async open(port: number): Promise<RawStream> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const s = new RawStream(ws);
    s.send({ t: "hello" });
    assert.equal((await s.next()).t, "hello");
    return s;
  }

  send(frame: unknown): void {
    this.#ws.send(new Uint8Array([1, ...withRaw(this.#packr.pack(frame))]));
  }

  /** The next frame the node sends (the test's own timeout bounds the wait). */
  async next(): Promise<Record<string, unknown>> {
    while (this.#frames.length === 0) await new Promise<void>((r) => this.#waiters.push(r));
    return this.#frames.shift()!;
  }

  async close(): Promise<void> {
    const closed = new Promise((r) => (this.#ws.onclose = r));
    this.#ws.close();
    await closed;
  }
}

/**
 * Raw msgpack bytes in a frame (given as hex, at most 13 bytes): a marker string that `send`
 * replaces with them (msgpackr writes a BigInt under 2^63 as int64, and has no other way to
 * write a given extension).
 */
const raw = (hex: string) => `\u0000raw:${hex}`;
const RAW_MARK = [0x00, ..."raw:"].map((c) => typeof c === "number" ? c : c.charCodeAt(0));

/** `v` as a msgpack uint64 (0xcf), as a Python, Go, Java or Rust client writes one over 2^32. */
const u64 = (v: bigint) => raw("cf" + v.toString(16).padStart(16, "0"));

/** The bytes of a frame with each `raw` marker (a fixstr) made its bytes. */
function withRaw(packed: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let k = 0; k < packed.length;) {
    const head = packed[k];
    if ((head & 0xe0) === 0xa0 && RAW_MARK.every((b, j) => packed[k + 1 + j] === b)) {
      const n = head & 0x1f;
      const hex = new TextDecoder().decode(packed.subarray(k + 1 + RAW_MARK.length, k + 1 + n));
      for (let j = 0; j < hex.length; j += 2) out.push(parseInt(hex.slice(j, j + 2), 16));
      k += 1 + n;
    } else out.push(packed[k++]);
  }
  return new Uint8Array(out);
}

async function withNode(
  fn: (stream: RawStream, received: () => Promise<unknown[]>) => Promise<void>,
): Promise<void> {
  const node = new LocalNode();
  const app = createApp({ node, log: silentLogger });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const base = `http://127.0.0.1:${server.addr.port}`;
  const stream = await RawStream.open(server.addr.port);
  const received = async () => {
    const r = await fetch(`${base}/v1/queues/q/receive`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"max": 10}',
    });
    assert.equal(r.status, 200);
    const text = await r.text();
    return (JSON.parse(text) as { messages: { body: unknown }[] }).messages.map((m) => m.body);
  };
  try {
    const put = await fetch(`${base}/v1/queues/q`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(put.status < 300, true, String(put.status));
    await put.body?.cancel();
    await fn(stream, received);
  } finally {
    await stream.close();
    await server.shutdown();
  }
}

const publish = (i: number, body: unknown) => ({
  t: "req",
  i,
  m: "POST",
  p: "/v1/queues/q/messages",
  b: { body },
});

/** The stream still answers: a plain publish after the refused one. */
async function stillOpen(stream: RawStream, i: number): Promise<void> {
  stream.send(publish(i, "after"));
  const res = await stream.next();
  assert.deepEqual([res.i, res.s], [i, 201]);
}

Deno.test("stream frame values: a uint64 / int64 that is a safe integer is published as that number", async () => {
  await withNode(async (stream, received) => {
    stream.send(publish(1, { amount: u64(2n ** 40n), debit: -(2n ** 40n) - 1n }));
    const res = await stream.next();
    assert.deepEqual([res.i, res.s], [1, 201], String(res.j));
    stream.send(publish(2, [u64(2n ** 53n - 1n), -(2n ** 53n) + 1n, 0n, 5n]));
    assert.deepEqual([(await stream.next()).s], [201]);
    assert.deepEqual(await received(), [
      { amount: 1099511627776, debit: -1099511627777 },
      [2 ** 53 - 1, -(2 ** 53) + 1, 0, 5],
    ]);
  });
});

Deno.test("stream frame values: a 64-bit integer beyond 2^53 is refused with a 400 to its i, nothing stored", async () => {
  await withNode(async (stream, received) => {
    for (
      const [i, v] of [
        [1, u64(2n ** 60n)],
        [2, 2n ** 53n],
        [3, -(2n ** 53n)],
        [4, u64(2n ** 64n - 1n)],
        [5, 2n ** 60n],
      ]
    ) {
      stream.send(publish(i as number, { amount: v }));
      const res = await stream.next();
      assert.deepEqual([res.i, res.s], [i, 400], String(res.j));
      const problem = JSON.parse(res.j as string);
      assert.match(problem.type, /invalid_request/);
      assert.match(problem.detail, /2\^53/);
    }
    await stillOpen(stream, 9);
    assert.deepEqual(await received(), ["after"]);
  });
});

Deno.test("stream frame values: a float32 is the number it holds", async () => {
  await withNode(async (stream, received) => {
    stream.send(publish(1, { ratio: 1.5, small: 0.25, tenth: 0.1 }));
    const res = await stream.next();
    assert.deepEqual([res.i, res.s], [1, 201], String(res.j));
    assert.deepEqual(await received(), [{ ratio: 1.5, small: 0.25, tenth: Math.fround(0.1) }]);
  });
});

Deno.test("stream frame values: a timestamp or any other extension, or bin, is refused with a 400 to its i", async () => {
  await withNode(async (stream, received) => {
    const cases: [number, unknown, RegExp][] = [
      [1, { at: new Date(1_700_000_000_000) }, /extension/], // timestamp 32 (fixext 4)
      [2, { at: new Date(1_700_000_000_123) }, /extension/], // timestamp 64 (fixext 8)
      [3, { p: raw("d62a00000003") }, /extension/], // fixext 4 of type 42
      [4, [raw("c7032a616263")], /extension/], // ext 8 of type 42
      [5, { at: raw("d4ff07") }, /extension/], // a damaged timestamp (fixext 1)
      [6, { data: new Uint8Array([1, 2]) }, /bin/],
    ];
    for (const [i, body, why] of cases) {
      stream.send(publish(i, body));
      const res = await stream.next();
      assert.deepEqual([res.i, res.s], [i, 400], String(res.j));
      const problem = JSON.parse(res.j as string);
      assert.match(problem.type, /invalid_request/);
      assert.match(problem.detail, why);
    }
    await stillOpen(stream, 9);
    assert.deepEqual(await received(), ["after"]);
  });
});

Deno.test("stream frame values: the same in a frame the hand reader leaves to msgpackr (an integer key)", async () => {
  await withNode(async (stream, received) => {
    const body = (v: unknown) => new Map<unknown, unknown>([[1, "x"], ["amount", v]]);
    stream.send(publish(1, body(u64(2n ** 40n))));
    assert.deepEqual([(await stream.next()).s], [201]);
    stream.send(publish(2, body(2n ** 60n)));
    let res = await stream.next();
    assert.deepEqual([res.i, res.s], [2, 400], String(res.j));
    assert.match(JSON.parse(res.j as string).detail, /2\^53/);
    stream.send(publish(3, body(new Date(1_700_000_000_000))));
    res = await stream.next();
    assert.deepEqual([res.i, res.s], [3, 400], String(res.j));
    assert.match(JSON.parse(res.j as string).detail, /extension/);
    await stillOpen(stream, 9);
    assert.deepEqual(await received(), [{ 1: "x", amount: 1099511627776 }, "after"]);
  });
});

Deno.test("stream frame values: a follower forwards the number it read; the leader stores it", async () => {
  const leader = new LocalNode();
  const leaderServer = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createApp({ node: leader, log: silentLogger }).fetch,
  );
  const leaderUrl = `http://127.0.0.1:${leaderServer.addr.port}`;
  const follower = new LocalNode({
    nodeId: "n2",
    mode: { kind: "follower", leaderId: "n1", leaderUrl },
  });
  const followerServer = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createApp({ node: follower, log: silentLogger }).fetch,
  );
  const stream = await RawStream.open(followerServer.addr.port);
  try {
    const json = { "content-type": "application/json" };
    const put = await fetch(`${leaderUrl}/v1/queues/q`, {
      method: "PUT",
      headers: json,
      body: "{}",
    });
    await put.body?.cancel();
    stream.send(publish(1, { amount: u64(2n ** 40n), n: -(2n ** 40n), f: 0.1 }));
    let res = await stream.next();
    assert.deepEqual([res.i, res.s], [1, 201], String(res.j));
    stream.send(publish(2, { amount: u64(2n ** 60n) }));
    res = await stream.next();
    assert.deepEqual([res.i, res.s], [2, 400], String(res.j));
    const got = await fetch(`${leaderUrl}/v1/queues/q/receive`, {
      method: "POST",
      headers: json,
      body: '{"max": 10}',
    });
    const bodies = ((await got.json()) as { messages: { body: unknown }[] }).messages.map((m) =>
      m.body
    );
    assert.deepEqual(bodies, [{ amount: 2 ** 40, n: -(2 ** 40), f: Math.fround(0.1) }]);
  } finally {
    await stream.close();
    await followerServer.shutdown();
    await leaderServer.shutdown();
  }
});
