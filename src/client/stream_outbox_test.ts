/**
 * The client stream's outbox (`stream.ts`): frames are written as msgpack when they are sent,
 * and a turn's frames go as one message, read back by msgpackr (the node's reader) as the frames
 * the client meant, in order, at most `BATCH_FRAMES_MAX` per message. A fake node on the
 * client's `dial` seam records every message.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { packValue } from "./msgpack.ts";
import { StreamConnection, type StreamSocket } from "./stream.ts";

// msgpackr's JS reader, the oracle here, drops a leading U+FEFF from a string over 64 bytes (its
// TextDecoder does not ignore the BOM); the project's readers keep it, which
// forward_frames_permissions_test.ts and stream_frames_permissions_test.ts check. So the oracle is
// not asked about such strings.
const noLeadingBom = (s: string): string => (s.startsWith("\uFEFF") ? `x${s}` : s);

const msgpackr = new Packr({ useRecords: false, mapsAsObjects: true });

/** A node that says hello (batching), records each message, and answers nothing by itself. */
class Recorder implements StreamSocket {
  binaryType = "arraybuffer";
  readyState = 0;
  onopen: ((ev: never) => void) | null = null;
  onmessage: ((ev: { readonly data: unknown }) => void) | null = null;
  onclose: ((ev: { readonly code: number; readonly reason: string }) => void) | null = null;
  /** Each message after the hello, as msgpackr reads it (version byte checked). */
  readonly messages: unknown[] = [];

  constructor(readonly batch = true) {
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.(undefined as never);
    });
  }

  send(data: Uint8Array): void {
    assert.equal(data[0], 1);
    const value = msgpackr.unpack(data.subarray(1)) as Record<string, unknown>;
    if (value.t === "hello") {
      this.deliver({ t: "hello", node: "n", v: 1, ...(this.batch ? { batch: true } : {}) });
      return;
    }
    this.messages.push(value);
  }

  /** The frames of every message so far, in order. */
  frames(): Record<string, unknown>[] {
    return this.messages.flatMap((m) => Array.isArray(m) ? m : [m]);
  }

  deliver(frame: unknown): void {
    queueMicrotask(() => this.onmessage?.({ data: packValue(frame, 1).slice().buffer }));
  }

  close(code = 1000, reason = ""): void {
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }
}

async function open(batch = true): Promise<{ c: StreamConnection; node: Recorder }> {
  let node: Recorder | undefined;
  const c = await StreamConnection.open("http://fake.invalid", undefined, 1_000, () => {
    node = new Recorder(batch);
    return node;
  });
  return { c, node: node! };
}

const turn = () => new Promise((r) => setTimeout(r, 0));

Deno.test("stream outbox: one turn's frames are one message (a map, a fixarray, an array 16), at most 4096 each, in order", async () => {
  for (const count of [1, 2, 15, 16, 300, 4096, 5000]) {
    const { c, node } = await open();
    try {
      const calls = Array.from(
        { length: count },
        (_, k) =>
          c.callWith("POST", `/v1/queues/q${k}/messages`, undefined, `1/${k}/1`, `{}`, undefined)
            .catch(() => {}),
      );
      await turn();
      const sizes = node.messages.map((m) => Array.isArray(m) ? m.length : 1);
      assert.deepEqual(sizes, count <= 4096 ? [count] : [4096, count - 4096], `${count}`);
      if (count === 1) assert.ok(!Array.isArray(node.messages[0]));
      assert.deepEqual(
        node.frames().map((f) => f.p),
        Array.from({ length: count }, (_, k) => `/v1/queues/q${k}/messages`),
      );
      assert.equal(c.inFlight, count);
      await c.close();
      await Promise.all(calls);
    } finally {
      await c.close();
    }
  }
});

Deno.test("stream outbox: a req frame written in place is the frame `call` sends, for any text", async () => {
  const { c, node } = await open();
  const text = fc.string({ unit: "binary", maxLength: 300 }).map(noLeadingBom);
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "DELETE"),
        text,
        fc.option(text, { nil: undefined }),
        fc.option(text, { nil: undefined }),
        fc.option(text, { nil: undefined }),
        async (method, path, key, session, body) => {
          node.messages.length = 0;
          const headers: Record<string, string> = {};
          if (key !== undefined) headers["idempotency-key"] = key;
          if (session !== undefined) headers["quorumq-session"] = session;
          const a = c.call(method, path, headers, body).catch(() => {});
          const b = c.callWith(method, path, key, session, body, undefined).catch(() => {});
          await turn();
          const [x, y] = node.frames();
          assert.deepEqual({ ...y, i: x.i }, x);
          assert.equal(y.i, (x.i as number) + 1);
          node.deliver([{ t: "res", i: x.i, s: 204 }, { t: "res", i: y.i, s: 204 }]);
          await Promise.all([a, b]);
        },
      ),
      { numRuns: 300 },
    );
  } finally {
    await c.close();
  }
});

Deno.test("stream outbox: a frame that is not msgpack-able fails its own call at once; the stream carries on", async () => {
  for (const batch of [true, false]) {
    const { c, node } = await open(batch);
    try {
      const consumer = c.consume("/v1/queues/q/receive", { bad: 1n }, 1, () => {});
      await assert.rejects(consumer.done, RangeError);
      assert.equal(c.inFlight, 0);
      const answer = c.callWith("GET", "/v1/queues", undefined, undefined, undefined, undefined);
      await turn();
      const frames = node.frames();
      assert.deepEqual(frames.map((f) => f.t), ["req"], `batch ${batch}`);
      node.deliver({ t: "res", i: frames[0].i, s: 200, j: "[]" });
      assert.equal((await answer).text, "[]");
    } finally {
      await c.close();
    }
  }
});

Deno.test("stream outbox: an aborted call sends its cancel after its req, and ends with the reason", async () => {
  const { c, node } = await open();
  try {
    const controller = new AbortController();
    const answer = c.callWith(
      "POST",
      "/v1/queues/q/receive",
      undefined,
      undefined,
      "{}",
      controller.signal,
    );
    await turn();
    const reason = new Error("stop");
    controller.abort(reason);
    await assert.rejects(answer, (e) => e === reason);
    await turn();
    assert.deepEqual(node.frames().map((f) => [f.t, f.i]), [["req", 1], ["cancel", 1]]);
    assert.equal(c.inFlight, 0);
  } finally {
    await c.close();
  }
});
