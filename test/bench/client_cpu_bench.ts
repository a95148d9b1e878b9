/**
 * The TypeScript client's own CPU per `Client.publish` on the stream, with no node: a fake
 * socket (the client's `dial` option) answers every request of a batch at once, as a node that
 * reads batches does (`res` 201 with a publish answer; `POST /v1/sessions` opens session 1).
 * 256 publishes with ids in flight, 256-byte bodies, as the peers' client workload (`CB`) and
 * `pubcpu_bench.ts --workloads client`, whose client shares the 2 cores with the nodes.
 *
 * It prints the process's CPU (user + system, `/proc/self/stat`) per publish, garbage collection
 * included (`--v8-flags=--trace-gc` shows the collections: at 256 in flight they are a third of
 * it). The fake node's part (msgpackr decode of the batch, one encode of the answers) is the same
 * whatever the client does.
 *
 * Usage: deno run -A test/bench/client_cpu_bench.ts [--runs 5] [--count 100000]
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
  },
});
const RUNS = Number(values.runs);
const COUNT = Number(values.count);
const LANES = 256;
const BODY = "x".repeat(256);

const JSON_TYPE = { "content-type": "application/json" };
const PUBLISHED = '{"seq":1,"id":"m","duplicate":false}';

/** A node that answers on the next turn, as `src/http/stream.ts` does with batching on. */
class FakeNode extends FakeNodeSocket {
  override send(data: Uint8Array): void {
    const value = packr.unpack(data.subarray(1)) as Record<string, unknown> | Record<
      string,
      unknown
    >[];
    const frames = Array.isArray(value) ? value : [value];
    const out: Record<string, unknown>[] = [];
    for (const f of frames) {
      if (f.t === "hello") {
        this.deliver({ t: "hello", node: "fake", v: 1, batch: true });
        return;
      }
      if (f.t !== "req") continue;
      const sessions = f.p === "/v1/sessions";
      out.push({
        t: "res",
        i: f.i,
        s: 201,
        h: JSON_TYPE,
        j: sessions ? '{"session":1,"timeoutMs":60000}' : PUBLISHED,
      });
    }
    if (out.length > 0) setTimeout(() => this.deliver(out.length === 1 ? out[0] : out), 0);
  }
}

async function run(count: number, tag: string): Promise<number> {
  const client = new Client({
    nodes: ["http://fake.invalid"],
    dial: () => new FakeNode(),
    followLeader: false,
  });
  try {
    let next = 0;
    const lane = async () => {
      while (next < count) {
        const i = next++;
        await client.publish("q", { id: `${tag}-${i}`, body: BODY });
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
  } finally {
    await client.close();
  }
  return count;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await run(20_000, "warm");
const us: number[] = [];
const load = () => Deno.loadavg()[0].toFixed(2);
for (let r = 0; r < RUNS; r++) {
  const c0 = cpuSeconds();
  const t0 = performance.now();
  await run(COUNT, `r${r}`);
  const ms = performance.now() - t0;
  const perMsg = (cpuSeconds() - c0) / COUNT * 1e6;
  us.push(perMsg);
  console.error(
    `run ${r + 1}: ${perMsg.toFixed(2)} µs CPU per publish, ${
      (COUNT / ms * 1000).toFixed(0)
    } publishes/s, load ${load()}`,
  );
}
console.log(JSON.stringify({ count: COUNT, runs: RUNS, medianUsPerPublish: median(us) }));
