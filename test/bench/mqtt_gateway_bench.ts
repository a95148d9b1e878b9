/**
 * The MQTT gateway's own CPU per QoS 1 message, in one process: a connection's bytes read
 * (`Wire`), its PUBLISHes batched and answered (`Inbound`, with its held answers and refill
 * wait) and its PUBACKs written, over a fake API that answers each batch publish at once as the
 * API renders it, and a fake client that sends a new 256-byte PUBLISH for each PUBACK it gets (64
 * in flight). What the node's API, the log and the cluster do is left out: this is the part
 * `src/mqtt` owns (docs/mqtt.md, "Speed").
 *
 * Usage: deno run -A test/bench/mqtt_gateway_bench.ts [--messages 100000] [--rounds 5]
 *   [--checkout <dir>] [--api]
 *
 * `--api`: each batch goes through the node's own API in process instead of the fake (the
 * gateway's fetch, `gatewayFetch`, over `createApp` on a one-node `LocalNode` with the MQTT
 * topic): the batch route's validation, its messages' bodies, the write and the answer's text
 * are in the figure too (no log, no Raft, no socket).
 *
 * `--checkout` measures another checkout's gateway (its `src/mqtt/`), for a before/after in one
 * sitting (alternate the two: the machine's load drifts). Prints the CPU time (user + system,
 * `process.cpuUsage`) per message of each round and their median.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { checkoutRoot } from "./_checkout.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "100000" },
    rounds: { type: "string", default: "5" },
    checkout: { type: "string" },
    api: { type: "boolean", default: false },
  },
});
const MESSAGES = Number(values.messages);
const ROUNDS = Number(values.rounds);
const IN_FLIGHT = 64;
const root = checkoutRoot(values.checkout);
const { Wire } = await import(`${root}src/mqtt/wire.ts`);
const { Inbound } = await import(`${root}src/mqtt/inbound.ts`);
const { BrokerApi } = await import(`${root}src/mqtt/broker_api.ts`);
const { MqttAccess } = await import(`${root}src/mqtt/access.ts`);

/** `--api`: the gateway's fetch over a fresh one-node API with the MQTT topic. */
async function nodeFetch(): Promise<unknown> {
  const { createApp } = await import(`${root}src/http/mod.ts`);
  const { LocalNode } = await import(`${root}src/http/testing/local_node.ts`);
  const { silentLogger } = await import(`${root}src/log.ts`);
  const { gatewayFetch } = await import(`${root}src/server/mqtt_fetch.ts`);
  const app = createApp({ node: new LocalNode(), log: silentLogger });
  const fetch = gatewayFetch({
    fetch: app.fetch,
    inProcess: app.inProcess,
    gatewayAuth: undefined,
  });
  const created = await new BrokerApi(fetch, undefined).call("PUT", "/v1/topics/mqtt", {});
  if (created.status !== 201) throw new Error(`the MQTT topic: ${created.status}`);
  return fetch;
}

const CONNECT = mqtt.generate({
  cmd: "connect",
  protocolId: "MQTT",
  protocolVersion: 4,
  clientId: "bench",
  clean: true,
  keepalive: 0,
} as Packet);
const PAYLOAD = "x".repeat(256);
/** One PUBLISH per packet id, made once. */
const PUBLISHES = Array.from({ length: 0xffff }, (_, i) =>
  mqtt.generate({
    cmd: "publish",
    topic: "bench/0/q1",
    payload: PAYLOAD,
    qos: 1,
    dup: false,
    retain: false,
    messageId: i + 1,
  }));

/**
 * A batch publish's answer as the API renders it (src/http/render.ts `batchPublished`): each
 * message published with a generated id.
 */
function answerText(count: number, firstSeq: number): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const seq = firstSeq + i;
    parts.push(`{"seq":${seq},"id":"mqtt-7f3a9c-${seq}","duplicate":false}`);
  }
  return `{"results":[${parts.join(",")}]}`;
}

/** One connection's run of `MESSAGES`: the CPU microseconds it took. */
async function round(): Promise<number> {
  let seq = 1;
  let sent = 0;
  let acked = 0;
  const outbox: Uint8Array[] = [CONNECT];
  let wake: (() => void) | undefined;
  const { promise: finished, resolve: done } = Promise.withResolvers<void>();
  const send = (k: number) => {
    for (let i = 0; i < k && sent < MESSAGES; i++, sent++) outbox.push(PUBLISHES[sent % 0xffff]);
    wake?.();
  };
  send(IN_FLIGHT);
  const conn = {
    remote: "bench",
    read: async (buf: Uint8Array): Promise<number | null> => {
      for (let i = 0; outbox.length === 0 && i < 10 * MESSAGES; i++) {
        if (acked >= MESSAGES) return null;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      let n = 0;
      while (outbox.length > 0 && n + outbox[0].length <= buf.length) {
        buf.set(outbox[0], n);
        n += outbox.shift()!.length;
      }
      return n;
    },
    write: (bytes: Uint8Array): Promise<number> => {
      // 4 bytes per PUBACK: the client answers each with a new PUBLISH.
      const k = bytes.length / 4;
      acked += k;
      if (acked >= MESSAGES) {
        done();
        wake?.();
      } else send(k);
      return Promise.resolve(bytes.length);
    },
    close: () => {},
  };
  const wire = new Wire(conn, 1 << 20);
  const fake = (req: { value?: { json: { messages: unknown[] } } }) => {
    const count = req.value?.json.messages.length ?? 0;
    const text = answerText(count, seq);
    seq += count;
    return Promise.resolve({ status: 201, text });
  };
  const api = new BrokerApi(values.api ? await nodeFetch() : fake, undefined);
  const inbound = new Inbound({
    api,
    access: MqttAccess.OPEN,
    clientId: "bench",
    owner: { clientId: "bench", principal: undefined },
    version: 4,
    maxBodyBytes: 1 << 20,
    send: (p: Packet) => wire.send(p),
    // (A checkout from before `sendAck` writes its acknowledgements through `send`.)
    ack: (cmd: string, messageId: number, reasonCode: number) =>
      wire.sendAck(cmd, messageId, reasonCode),
    written: () => wire.written(),
    log: () => {},
    fail: (reason: number, detail: string) => {
      throw new Error(`the gateway failed the connection: ${reason} ${detail}`);
    },
  });
  const before = process.cpuUsage();
  const reading = wire.read({
    packet: (p: Packet) => {
      if (p.cmd === "publish") inbound.publish(p);
    },
    read: () => inbound.flush(),
    error: (e: unknown) => {
      throw new Error(`read: ${JSON.stringify(e)}`);
    },
  });
  await finished;
  const used = process.cpuUsage(before);
  wire.close();
  await Promise.race([reading, new Promise((r) => setTimeout(r, 100))]);
  return used.user + used.system;
}

const perMessage: number[] = [];
for (let r = 0; r < ROUNDS; r++) perMessage.push(await round() / MESSAGES);
const sorted = [...perMessage].sort((a, b) => a - b);
console.log(
  `MQTT gateway${values.api ? " + API" : ""} (${values.checkout ?? "this checkout"}), QoS 1, ` +
    `${IN_FLIGHT} in flight, ` +
    `${MESSAGES} messages x ${ROUNDS}: ${perMessage.map((x) => x.toFixed(2)).join(" ")} µs/msg, ` +
    `median ${sorted[sorted.length >> 1].toFixed(2)}`,
);
