/**
 * The node's hand msgpack readers alone, in CPU time per message (so a busy machine slows it but
 * does not skew it much): `readEntryValue` on a 64-message MQTT entry (`topic_publish_batch`)
 * and on a 100-message `publish_batch` entry, as `encodeEntry` makes them, `decodeEntry` on a
 * batch entry of 256 stream publishes (`{cmd: {op, queue, message: {body, id}}, session}`, the
 * CB workload's entries), and `readStreamMessage` on 256 publish frames as the TypeScript client
 * packs them.
 *
 * Usage: deno run -A test/bench/msgpack_read_bench.ts [--rounds 5] [--messages 2000000]
 *   [--checkout dir]
 * `--checkout` measures another checkout's readers, for a before/after comparison: run the two
 * alternately, several times, and compare medians.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Packr } from "msgpackr";
import { cpuSeconds } from "./_cpu.ts";
import { checkoutRoot } from "./_checkout.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    messages: { type: "string", default: "2000000" },
    checkout: { type: "string" },
  },
});
const ROUNDS = Number(values.rounds);
const MESSAGES = Number(values.messages);
const root = checkoutRoot(values.checkout);
const broker = await import(`${root}src/broker/mod.ts`);
const { readEntryValue } = await import(`${root}src/broker/_entry_reader.ts`);
const { NOT_READ, readStreamMessage } = await import(`${root}src/http/stream_read.ts`);

const BODY = new TextEncoder().encode(JSON.stringify("x".repeat(256)));
const MQTT_HEADERS = { "mqtt-payload": "utf8", "mqtt-qos": "1" };

const entry = (cmd: unknown) => broker.encodeEntry({ ts: 2 }, [broker.packProposal({ cmd })]);
const mqtt: Uint8Array = entry({
  op: "topic_publish_batch",
  topic: "mqtt",
  messages: Array.from({ length: 64 }, () => ({
    subject: "bench.q1",
    body: BODY,
    headers: MQTT_HEADERS,
  })),
});
const b100: Uint8Array = entry({
  op: "publish_batch",
  queue: "q",
  messages: Array.from({ length: 100 }, (_, i) => ({ body: BODY, id: `m7-${i}` })),
});

const batch: Uint8Array = broker.encodeEntry(
  { ts: 2 },
  Array.from({ length: 256 }, (_, i) =>
    broker.packProposal({
      cmd: { op: "publish", queue: "q", message: { body: BODY, id: `m-${i}` } },
      session: { id: 7, seq: i + 1, lowest: i },
    })),
);

/** µs of CPU per proposal to decode the batch entry (256 proposals) until `MESSAGES` are read. */
function batchRound(): number {
  const n = Math.ceil(MESSAGES / 256);
  const t0 = cpuSeconds();
  for (let k = 0; k < n; k++) if (broker.decodeEntry(batch).items.length !== 256) throw new Error();
  return (cpuSeconds() - t0) * 1e6 / (n * 256);
}

const client = new Packr({ useRecords: false });
const frames: Uint8Array[] = Array.from({ length: 256 }, (_, i) => {
  const body = client.pack({
    t: "req",
    i,
    m: "POST",
    p: "/v1/queues/orders/messages",
    h: { "quorumq-session": `7/${i}/${i - 3}` },
    j: JSON.stringify({ id: `m-${i}`, body: "a".repeat(256) }),
  });
  const out = new Uint8Array(1 + body.length);
  out[0] = 1;
  out.set(body, 1);
  return out;
});

/** µs of CPU per message to read `bytes` (`perEntry` messages each) until `MESSAGES` are read. */
function entryRound(bytes: Uint8Array, perEntry: number): number {
  const n = Math.ceil(MESSAGES / perEntry);
  const t0 = cpuSeconds();
  for (let k = 0; k < n; k++) if (!readEntryValue(bytes, 1).ok) throw new Error("not read");
  return (cpuSeconds() - t0) * 1e6 / (n * perEntry);
}

function streamRound(): number {
  const n = Math.ceil(MESSAGES / frames.length);
  const t0 = cpuSeconds();
  for (let k = 0; k < n; k++) {
    for (const f of frames) if (readStreamMessage(f, 1) === NOT_READ) throw new Error("not read");
  }
  return (cpuSeconds() - t0) * 1e6 / (n * frames.length);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runs = {
  mqtt: [] as number[],
  b100: [] as number[],
  batch: [] as number[],
  stream: [] as number[],
};
entryRound(mqtt, 64), entryRound(b100, 100), batchRound(), streamRound(); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  runs.mqtt.push(entryRound(mqtt, 64));
  runs.b100.push(entryRound(b100, 100));
  runs.batch.push(batchRound());
  runs.stream.push(streamRound());
}
const load = Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
console.log(
  `${values.checkout ?? "this checkout"}: µs CPU/message (median of ${ROUNDS}) ` +
    Object.entries(runs).map(([k, xs]) => `${k} ${median(xs).toFixed(3)}`).join(", ") +
    ` (load ${load})`,
);
