import assert from "node:assert/strict";
import { StreamConnection } from "../client/mod.ts";
import { silentLogger } from "../log.ts";
import { createApp } from "./app.ts";
import {
  INTAKE_SLICE_FRAMES,
  nextTurn,
  RecentFsyncs,
  SLICE_FSYNC_MAX_SECONDS,
  SlicedIntake,
} from "./stream_intake.ts";
import { LocalNode } from "./testing/local_node.ts";

/** Resolves after `n` later turns of the event loop (each slice waits for one). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => nextTurn(r));
}

Deno.test("a message of at most a slice is taken at once, in the call", () => {
  const taken: number[] = [];
  const intake = new SlicedIntake<number>((x) => (taken.push(x), true), 4);
  intake.push([1, 2, 3, 4]);
  assert.deepEqual(taken, [1, 2, 3, 4]);
  assert.equal(intake.waiting, 0);
});

Deno.test("a larger message is taken a slice per turn, and later messages wait behind it", async () => {
  const taken: number[] = [];
  const intake = new SlicedIntake<number>((x) => (taken.push(x), true), 4);
  intake.push([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(taken, [1, 2, 3, 4]);
  // Microtasks do not take the rest: the slice ends the step.
  await Promise.resolve();
  assert.deepEqual(taken, [1, 2, 3, 4]);
  intake.push([11, 12]); // arrives while the first waits: behind it
  assert.deepEqual(taken, [1, 2, 3, 4]);
  assert.equal(intake.waiting, 8);
  for (let i = 0; i < 10 && intake.waiting > 0; i++) await turns(1);
  assert.deepEqual(taken, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  // Once nothing waits, a new message is taken at once again.
  intake.push([13]);
  assert.deepEqual(taken.at(-1), 13);
});

Deno.test("a slice spans messages: the budget counts items, not messages", async () => {
  const taken: string[] = [];
  const intake = new SlicedIntake<string>((x) => (taken.push(x), true), 3);
  intake.push(["a1", "a2", "a3", "a4"]);
  intake.push(["b1", "b2"]);
  assert.deepEqual(taken, ["a1", "a2", "a3"]);
  await turns(1);
  assert.deepEqual(taken, ["a1", "a2", "a3", "a4", "b1", "b2"]);
});

Deno.test("take answering false drops the rest of that message only", async () => {
  const taken: string[] = [];
  const intake = new SlicedIntake<string>((x) => (taken.push(x), x !== "stop"), 2);
  intake.push(["a", "b", "stop", "lost", "lost"]);
  intake.push(["c"]);
  for (let i = 0; i < 10 && intake.waiting > 0; i++) await turns(1);
  assert.deepEqual(taken, ["a", "b", "stop", "c"]);
});

Deno.test("stop drops what waits and what comes later, also from inside take", async () => {
  const taken: number[] = [];
  const intake: SlicedIntake<number> = new SlicedIntake<number>((x) => {
    taken.push(x);
    if (x === 3) intake.stop();
    return true;
  }, 2);
  intake.push([1, 2, 3, 4, 5]);
  await turns(3);
  assert.deepEqual(taken, [1, 2, 3]);
  intake.push([6]);
  await turns(1);
  assert.deepEqual(taken, [1, 2, 3]);
  assert.equal(intake.waiting, 0);
});

Deno.test("with slicing refused (long fsyncs), a large message is taken whole at once", () => {
  const taken: number[] = [];
  let asked = 0;
  const intake = new SlicedIntake<number>((x) => (taken.push(x), true), 2, () => (asked++, false));
  intake.push([1, 2]); // within a slice: not asked
  assert.equal(asked, 0);
  intake.push([3, 4, 5, 6, 7]);
  assert.equal(asked, 1);
  assert.deepEqual(taken, [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(intake.waiting, 0);
});

Deno.test("recent fsyncs: short while their mean since the last look is under the bound", () => {
  let totals: { sum: number; count: number } | undefined = undefined;
  const fsyncs = new RecentFsyncs(() => totals);
  assert.equal(fsyncs.short(), true); // memory storage: no fsyncs at all
  const fast = SLICE_FSYNC_MAX_SECONDS / 4, slow = SLICE_FSYNC_MAX_SECONDS * 3;
  totals = { sum: 10 * fast, count: 10 };
  assert.equal(fsyncs.short(), true);
  totals = { sum: totals.sum + 10 * slow, count: 20 }; // only the 10 since count
  assert.equal(fsyncs.short(), false);
  assert.equal(fsyncs.short(), false); // none since: the answer before
  totals = { sum: totals.sum + 4 * fast, count: 24 };
  assert.equal(fsyncs.short(), true);
});

Deno.test({
  name:
    "a stream's batch larger than a slice: every frame answered, a queue's messages in the order sent",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const node = new LocalNode();
    const app = createApp({ node, log: silentLogger });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    const stream = await StreamConnection.open(`http://127.0.0.1:${server.addr.port}`);
    try {
      await stream.request("PUT", "/v1/queues/q", {}, "{}");
      const n = 3 * INTAKE_SLICE_FRAMES + 7;
      // Sent in one turn: one message of n frames, taken a slice per turn by the node.
      const answers = await Promise.all(
        Array.from(
          { length: n },
          (_, i) => stream.call("POST", "/v1/queues/q/messages", {}, JSON.stringify({ body: i })),
        ),
      );
      assert.deepEqual(answers.map((a) => a.status), answers.map(() => 201));
      const got = await stream.call("POST", "/v1/queues/q/receive", {}, `{"max": ${n}}`);
      const bodies = (JSON.parse(got.text ?? "{}") as { messages: { body: number }[] }).messages
        .map((m) => m.body);
      assert.deepEqual(bodies, Array.from({ length: n }, (_, i) => i));
    } finally {
      await stream.close();
      await server.shutdown();
    }
  },
});
