import assert from "node:assert/strict";
import { AttemptCancel } from "./attempt_cancel.ts";
import { packValue, unpackValue } from "./msgpack.ts";
import type { StreamSocket } from "./stream.ts";
import { Transport } from "./transport.ts";

Deno.test("AttemptCancel runs each listener still added once, in order, as an AbortSignal would", () => {
  for (const useController of [false, true]) {
    const calls: string[] = [];
    const controller = useController ? new AbortController() : new AttemptCancel();
    const signal = controller.signal;
    const listener = (name: string) => () => calls.push(name);
    const a = listener("a"), b = listener("b"), c = listener("c"), d = listener("d");
    signal.addEventListener("abort", a, { once: true });
    signal.addEventListener("abort", b, { once: true });
    signal.addEventListener("abort", c, { once: true });
    signal.removeEventListener("abort", a);
    signal.removeEventListener("abort", c);
    signal.addEventListener("abort", d, { once: true });
    assert.equal(signal.aborted, false);
    const reason = new Error("timed out");
    controller.abort(reason);
    controller.abort(new Error("again"));
    signal.addEventListener("abort", listener("late"), { once: true });
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, reason);
    assert.deepEqual(calls, ["b", "d"], useController ? "AbortController" : "AttemptCancel");
  }
});

Deno.test("AttemptCancel and AbortSignal call a listener object's handleEvent, unless it was removed", () => {
  for (const useController of [false, true]) {
    const controller = useController ? new AbortController() : new AttemptCancel();
    const calls: string[] = [];
    const kept = { handleEvent: () => calls.push("kept") };
    const removed = { handleEvent: () => calls.push("removed") };
    controller.signal.addEventListener("abort", kept, { once: true });
    controller.signal.addEventListener("abort", removed, { once: true });
    controller.signal.removeEventListener("abort", removed);
    controller.abort(new Error("x"));
    assert.deepEqual(calls, ["kept"]);
  }
});

Deno.test("AttemptCancel is its own deadline: fire() aborts with a timeout naming its ms", () => {
  const cancel = new AttemptCancel(250);
  cancel.fire();
  assert.equal(cancel.aborted, true);
  assert.match(String(cancel.reason), /timed out after 250 ms/);
});

/** A node on a fake socket that answers `hello` and `GET /x` on its second try, never the first. */
class SilentOnce implements StreamSocket {
  binaryType = "arraybuffer";
  readyState = 0;
  onopen: ((ev: never) => void) | null = null;
  onmessage: ((ev: { readonly data: unknown }) => void) | null = null;
  onclose: ((ev: { readonly code: number; readonly reason: string }) => void) | null = null;
  readonly frames: Record<string, unknown>[] = [];

  constructor() {
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.(undefined as never);
    });
  }

  send(data: Uint8Array): void {
    const value = unpackValue(data.subarray(1)) as Record<string, unknown>;
    for (const f of Array.isArray(value) ? value : [value]) {
      this.frames.push(f);
      if (f.t === "hello") this.#deliver({ t: "hello", node: "n", v: 1 });
      const reqs = this.frames.filter((x) => x.t === "req").length;
      if (f.t === "req" && reqs > 1) {
        this.#deliver({
          t: "res",
          i: f.i,
          s: 200,
          h: { "content-type": "application/json" },
          j: "1",
        });
      }
    }
  }

  #deliver(frame: unknown): void {
    queueMicrotask(() => this.onmessage?.({ data: packValue(frame, 1).slice().buffer }));
  }

  close(code = 1000, reason = ""): void {
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }
}

Deno.test("a stream request whose attempt times out is cancelled on the stream and tried again", async () => {
  const sockets: SilentOnce[] = [];
  const t = new Transport({
    nodes: ["http://n.invalid"],
    dial: () => {
      const s = new SilentOnce();
      sockets.push(s);
      return s;
    },
    followLeader: false,
    timeoutMs: 20,
    sessions: false,
    sleep: () => Promise.resolve(),
  });
  const answer = await t.request({ method: "GET", path: "/x", mutating: false });
  assert.equal(answer.body, 1);
  const frames = sockets.flatMap((s) => s.frames).filter((f) => f.t !== "hello");
  const first = frames.find((f) => f.t === "req")!;
  // The timed-out request is cancelled on the stream (its listener ran) before the retry.
  assert.deepEqual(frames.map((f) => f.t), ["req", "cancel", "req"]);
  assert.equal(frames[1].i, first.i);
  await t.close();
});
