// The peers kit's HTTP publish client, for `pubcpu_bench.ts --workloads undici` (run by Node.js,
// not Deno): undici's `request()` through an Agent of 512 connections, pipelining 1, keep-alive;
// each request a POST of `{"id", "body"}` (a 256-character string body) to
// /v1/queues/<q>/messages, its answer read as text. Argument: JSON
// `{ undici, url, queue, tag, warm, count, inflight }` (`undici`: the path of undici's entry module).
// It publishes `warm` messages, prints "warm", waits for a line on stdin, publishes `count`, and
// prints one JSON line: `{ seconds, cpuSeconds, latencies }` (latencies in ms per request). Every loop is bounded by its count.
import { createInterface } from "node:readline";

const o = JSON.parse(process.argv[2]);
const { Agent, request } = await import(o.undici);
const dispatcher = new Agent({ connections: 512, pipelining: 1, keepAliveTimeout: 30_000 });
const target = `${o.url}/v1/queues/${o.queue}/messages`;
const headers = { "content-type": "application/json" };
const payload = "a".repeat(256);

async function publish(id) {
  const body = JSON.stringify({ id, body: payload });
  const r = await request(target, { method: "POST", headers, body, dispatcher });
  const text = await r.body.text();
  if (r.statusCode >= 300) throw new Error(`publish: ${r.statusCode} ${text.slice(0, 200)}`);
}

async function lanes(count, prefix, latencies) {
  let next = 0;
  await Promise.all(Array.from({ length: o.inflight }, async () => {
    while (next < count) {
      const i = next++;
      const t = performance.now();
      await publish(`${o.tag}-${prefix}-${i}`);
      latencies?.push(performance.now() - t);
    }
  }));
}

await lanes(o.warm, "w");
process.stdout.write("warm\n");
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
const latencies = [];
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await lanes(o.count, "m", latencies);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
process.stdout.write(JSON.stringify({ seconds, cpuSeconds, latencies }) + "\n");
lines.close();
await dispatcher.close();
