/**
 * Memory of a large backlog: applies 1,000,000 publishes of 256-byte messages to one queue and
 * reports the apply rate, the RSS and the heap. Target: RSS <= 600 MB.
 * `deno run --allow-env --v8-flags=--expose-gc test/bench/broker_rss.ts [count] [--ids]`; with
 * `--ids` every message carries an id (a dedup record each, as in the start-up scenario).
 *
 * @module
 */

import { BrokerState, captureSnapshot } from "../../src/broker/mod.ts";

const count = Number(Deno.args.find((a) => !a.startsWith("--")) ?? 1_000_000);
const withIds = Deno.args.includes("--ids");
const MB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;

function report(label: string): void {
  gc?.();
  const m = Deno.memoryUsage();
  console.log(
    `${label}: rss ${(m.rss / MB).toFixed(0)} MB, heapUsed ${(m.heapUsed / MB).toFixed(0)} MB, ` +
      `external ${(m.external / MB).toFixed(0)} MB`,
  );
}

report("start");
const b = new BrokerState();
let index = 0;
b.apply(++index, { ts: 1, cmd: { op: "queue_put", queue: "q", options: {} } });
const body = new Uint8Array(256);
const t0 = performance.now();
for (let i = 0; i < count; i++) {
  body[0] = i & 0xff; // a fresh body per message, as decoded entries would be
  const message = withIds ? { body, id: `m${i}` } : { body };
  b.apply(++index, { ts: 2, cmd: { op: "publish", queue: "q", message } });
}
const ms = performance.now() - t0;
console.log(
  `applied ${count} publishes in ${ms.toFixed(0)} ms: ${(count / ms * 1000).toFixed(0)}/s`,
);
console.log(`ready: ${b.queue("q")!.stats.ready}`);
report(`after ${count} ready 256-byte messages`);
const c0 = performance.now();
const view = captureSnapshot(b);
const c1 = performance.now();
const bytes = view.serialize();
const c2 = performance.now();
console.log(
  `snapshot: capture ${(c1 - c0).toFixed(0)} ms, serialize ${(c2 - c1).toFixed(0)} ms, ` +
    `${(bytes.length / MB).toFixed(0)} MB`,
);
