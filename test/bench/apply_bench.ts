/**
 * The broker's share of the write path per message, in one process, measured in CPU time (so a
 * busy machine slows it but does not skew it much): what the leader does to turn a proposal into
 * entry bytes (`packProposal` + `encodeEntry`), and what every node does to apply the entry
 * (`BrokerState.applyEntry`: decode, exactly-once layer, the publish, its answer). Workloads:
 *
 * - `b100`: the peers' B100 as the HTTP layer proposes it, a `publish_batch` of 100 messages of
 *   256-byte JSON bodies, each with an id, to a queue;
 * - `mqtt`: a QoS 1 run as the MQTT gateway proposes it, a `topic_publish_batch` of 64 messages
 *   with a subject and the gateway's headers, to a topic with no subscriptions;
 * - `mqtt1sub`: the same, the topic with one subscription matching every subject;
 * - `stream`: 256 single publishes with ids under one stamp (a batch entry), as the leader's
 *   batcher makes them of the stream's one-message publishes with 256 in flight;
 * - `noid`: the `stream` workload without ids (the stream benches' raw publishes);
 * - `client`: the `stream` workload in a client session (`Client.publish`): each carries its session place,
 *   the lowest unanswered seq 256 behind it, so every one stores its answer and drops one;
 * - `peers`: `client` with the peers kit's ids (`<pid>-<ms>-<run>-b<i>`, ~26 characters: past the
 *   entry reader's string cache, as the peers' `CB` ids are).
 *
 * Besides the encode and the apply (which decodes), it prints the decode alone (`decodeEntry`).
 *
 * `--unanswered` applies as a follower does (`applyEntry`'s `answers` false: no answer is made
 * that is not stored); a checkout without that argument answers everything.
 *
 * Usage: deno run -A test/bench/apply_bench.ts [--rounds 5] [--messages 200000]
 *   [--workloads b100,mqtt,mqtt1sub,noid,stream,client] [--checkout dir] [--unanswered]
 * `--checkout` measures another checkout's broker (its `src/broker/mod.ts`), for a before/after
 * comparison in one sitting; rounds alternate nothing, so run the two one after the other, twice.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cpuSeconds } from "./_cpu.ts";
import { checkoutRoot } from "./_checkout.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    messages: { type: "string", default: "200000" },
    workloads: { type: "string", default: "b100,mqtt,mqtt1sub,noid,stream,client,peers" },
    checkout: { type: "string" },
    unanswered: { type: "boolean", default: false },
  },
});
const ANSWERS = !values.unanswered;
const ROUNDS = Number(values.rounds);
const PEERS_TAG = `${Deno.pid}-${Date.now()}-1`;
const MESSAGES = Number(values.messages);
const root = checkoutRoot(values.checkout);
const broker = await import(`${root}src/broker/mod.ts`);

const encoder = new TextEncoder();
const BODY = encoder.encode(JSON.stringify("x".repeat(256)));

interface Workload {
  /** The target's creation command. */
  readonly setup: unknown[];
  readonly perEntry: number;
  /** The proposal of entry `n` (fresh ids every time). */
  proposal(n: number): unknown;
}

/** The stream workload: proposals per entry, each one message. */
const STREAM_RUN = 256;

/** The headers of a QoS 1 text PUBLISH, as `src/mqtt/publish_message.ts` makes them. */
const MQTT_HEADERS = { "mqtt-payload": "text", "mqtt-qos": "1" };

const WORKLOADS: Record<string, Workload> = {
  b100: {
    setup: [{ op: "queue_put", queue: "q", options: {} }],
    perEntry: 100,
    proposal: (n) => ({
      cmd: {
        op: "publish_batch",
        queue: "q",
        messages: Array.from({ length: 100 }, (_, i) => ({ body: BODY, id: `m${n}-${i}` })),
      },
    }),
  },
  mqtt: {
    setup: [{ op: "topic_put", topic: "mqtt", options: {} }],
    perEntry: 64,
    proposal: () => ({
      cmd: {
        op: "topic_publish_batch",
        topic: "mqtt",
        // In the order the API makes a message's fields (`withBody` in src/http/render.ts).
        messages: Array.from({ length: 64 }, () => ({
          body: BODY,
          headers: MQTT_HEADERS,
          subject: "bench.q1",
        })),
      },
    }),
  },
  mqtt1sub: {
    setup: [
      { op: "topic_put", topic: "mqtt", options: {} },
      { op: "subscription_put", topic: "mqtt", subscription: "s", options: { filter: ">" } },
    ],
    perEntry: 64,
    proposal: () => WORKLOADS.mqtt.proposal(0),
  },
  stream: {
    setup: [{ op: "queue_put", queue: "q", options: {} }],
    perEntry: STREAM_RUN,
    proposal: (n) =>
      Array.from({ length: STREAM_RUN }, (_, i) => ({
        cmd: { op: "publish", queue: "q", message: { body: BODY, id: `s${n}-${i}` } },
      })),
  },
  noid: {
    setup: [{ op: "queue_put", queue: "q", options: {} }],
    perEntry: STREAM_RUN,
    proposal: () =>
      Array.from({ length: STREAM_RUN }, () => ({
        cmd: { op: "publish", queue: "q", message: { body: BODY } },
      })),
  },
  client: {
    // The session is the entry that opened it: the second.
    setup: [{ op: "queue_put", queue: "q", options: {} }, { op: "session_open" }],
    perEntry: STREAM_RUN,
    proposal: (n) =>
      Array.from({ length: STREAM_RUN }, (_, i) => {
        const seq = n * STREAM_RUN + i + 1;
        return {
          cmd: { op: "publish", queue: "q", message: { body: BODY, id: `s${n}-${i}` } },
          session: { id: 2, seq, lowest: Math.max(0, seq - STREAM_RUN) },
        };
      }),
  },
  peers: {
    setup: [{ op: "queue_put", queue: "q", options: {} }, { op: "session_open" }],
    perEntry: STREAM_RUN,
    proposal: (n) =>
      Array.from({ length: STREAM_RUN }, (_, i) => {
        const seq = n * STREAM_RUN + i + 1;
        return {
          cmd: { op: "publish", queue: "q", message: { body: BODY, id: `${PEERS_TAG}-b${seq}` } },
          session: { id: 2, seq, lowest: Math.max(0, seq - STREAM_RUN) },
        };
      }),
  },
};

/** One round: µs per message to encode (leader), to decode and to apply (every node but the leader). */
function round(w: Workload): { encode: number; decode: number; apply: number } {
  const state = new broker.BrokerState();
  let index = 0;
  for (const cmd of w.setup) {
    const r = state.apply(++index, { ts: 1, cmd });
    if (!r.ok) throw new Error(`setup refused: ${JSON.stringify(r)}`);
  }
  const entries = Math.ceil(MESSAGES / w.perEntry);
  const proposals = Array.from({ length: entries }, (_, n) => w.proposal(n));
  const t0 = cpuSeconds();
  const data = proposals.map((p, n) =>
    broker.encodeEntry(
      { ts: 2 + n },
      (Array.isArray(p) ? p : [p]).map((one) => broker.packProposal(one)),
    )
  );
  const t1 = cpuSeconds();
  for (const d of data) broker.decodeEntry(d);
  const td = cpuSeconds();
  for (const d of data) {
    const r = state.applyEntry(++index, d, undefined, ANSWERS);
    const refused = r instanceof broker.BatchResults
      ? r.results.find((x: { ok: boolean }) => !x.ok)
      : r?.ok === false && r;
    if (refused) throw new Error(`refused: ${JSON.stringify(refused)}`);
  }
  const t2 = cpuSeconds();
  const n = entries * w.perEntry;
  return { encode: (t1 - t0) * 1e6 / n, decode: (td - t1) * 1e6 / n, apply: (t2 - td) * 1e6 / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
console.log(`load ${load()}; broker from ${root}`);
for (const name of values.workloads.split(",")) {
  const w = WORKLOADS[name];
  round(w); // warm-up
  const enc: number[] = [];
  const dec: number[] = [];
  const app: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const f = round(w);
    enc.push(f.encode);
    dec.push(f.decode);
    app.push(f.apply);
  }
  console.log(
    `${name}: µs/msg encode ${median(enc).toFixed(2)} decode ${median(dec).toFixed(2)} ` +
      `apply ${median(app).toFixed(2)} ` +
      `(rounds: apply ${app.map((x) => x.toFixed(2)).join(" ")})`,
  );
}
console.log(`load ${load()}`);
