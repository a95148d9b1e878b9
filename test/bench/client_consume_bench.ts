/**
 * The TypeScript client's own CPU per message of `Client.consume` on the stream, with no node: a
 * fake socket (the client's `dial` option) pushes deliveries on credit (at most 1000 per `push`,
 * 256-byte bodies, the text a node renders) and answers every ack of a batch at once, as a node
 * that reads batches does. The handler returns at once (concurrency 64), as the peers' consume
 * workload (`CC`) and `consume_bench.ts`, whose client shares the 2 cores with the nodes.
 *
 * It prints the process's CPU (user + system, `/proc/self/stat`) per consumed message, garbage
 * collection included. The fake node's part (msgpackr decode of the frames, rendering and
 * encoding the pushes and the ack answers) is the same whatever the client does.
 *
 * Usage: deno run -A test/bench/client_consume_bench.ts [--runs 5] [--count 100000]
 *   [--prefetch n (default: adaptive)]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Client } from "../../src/client/mod.ts";
import { FakeNodeSocket, packr } from "./_fake_node.ts";
import { cpuSeconds } from "./_cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    count: { type: "string", default: "100000" },
    prefetch: { type: "string" },
  },
});
const RUNS = Number(values.runs);
const COUNT = Number(values.count);
const BODY = JSON.stringify("x".repeat(256));
const PREFETCH = values.prefetch === undefined ? {} : { prefetch: Number(values.prefetch) };

const JSON_TYPE = { "content-type": "application/json" };
type Frame = Record<string, unknown>;

/** A node with an endless queue: pushes on credit, acks every receipt, on the next turn. */
class FakeNode extends FakeNodeSocket {
  #seq = 0;
  #credit = new Map<number, number>();

  override send(data: Uint8Array): void {
    const value = packr.unpack(data.subarray(1)) as Frame | Frame[];
    const frames = Array.isArray(value) ? value : [value];
    const out: Frame[] = [];
    for (const f of frames) {
      if (f.t === "hello") {
        this.deliver({ t: "hello", node: "fake", v: 1, batch: true });
        return;
      }
      const i = f.i as number;
      if (f.t === "consume" || f.t === "credit") {
        this.#credit.set(i, (this.#credit.get(i) ?? 0) + (f.n as number));
      } else if (f.t === "cancel") {
        this.#credit.delete(i);
        out.push({ t: "res", i, s: 204 });
      } else if (f.t === "req") out.push(this.#answer(f));
    }
    for (const [i, n] of this.#credit) {
      for (let left = n; left > 0; left -= 1000) out.push(this.#push(i, Math.min(left, 1000)));
      this.#credit.set(i, 0);
    }
    if (out.length > 0) setTimeout(() => this.deliver(out.length === 1 ? out[0] : out), 0);
  }

  #answer(f: Frame): Frame {
    if (f.p === "/v1/sessions") {
      return { t: "res", i: f.i, s: 201, h: JSON_TYPE, j: '{"session":1,"timeoutMs":60000}' };
    }
    if (typeof f.j !== "string") return { t: "res", i: f.i, s: 200, h: JSON_TYPE, j: "{}" };
    const { receipts } = JSON.parse(f.j) as { receipts: string[] };
    const status = String(f.p).endsWith("/nack") ? "nacked" : "acked";
    const results = receipts.map((receipt) => ({ receipt, status }));
    return { t: "res", i: f.i, s: 200, h: JSON_TYPE, j: JSON.stringify({ results }) };
  }

  #push(i: number, n: number): Frame {
    const parts: string[] = [];
    for (let k = 0; k < n; k++) {
      const seq = ++this.#seq;
      parts.push(
        `{"seq":${seq},"id":"m-${seq}","body":${BODY},"headers":{},"group":null,` +
          `"subject":null,"attempt":1,"receipt":"1.${seq.toString(36)}.1",` +
          `"leaseExpiresAt":${Date.now() + 30_000},"publishedAt":${Date.now()}}`,
      );
    }
    return { t: "push", i, j: `{"messages":[${parts.join(",")}]}` };
  }
}

async function run(count: number): Promise<number> {
  const client = new Client({
    nodes: ["http://fake.invalid"],
    dial: () => new FakeNode(),
    followLeader: false,
  });
  try {
    const stats = await client.consume("q", () => {}, {
      concurrency: 64,
      maxMessages: count,
      ...PREFETCH,
    });
    return stats.acked;
  } finally {
    await client.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await run(20_000);
const us: number[] = [];
const load = () => Deno.loadavg()[0].toFixed(2);
for (let r = 0; r < RUNS; r++) {
  const c0 = cpuSeconds();
  const t0 = performance.now();
  const acked = await run(COUNT);
  const ms = performance.now() - t0;
  const perMsg = (cpuSeconds() - c0) / COUNT * 1e6;
  us.push(perMsg);
  console.error(
    `run ${r + 1}: ${perMsg.toFixed(2)} µs CPU per message (${acked} acked), ${
      (COUNT / ms * 1000).toFixed(0)
    } msgs/s, load ${load()}`,
  );
}
console.log(JSON.stringify({ count: COUNT, runs: RUNS, medianUsPerMessage: median(us) }));
