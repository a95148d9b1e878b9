/**
 * The chaos workload over MQTT (`--transport mqtt`): real MQTT.js clients on the nodes' MQTT
 * listeners, each reconnecting to a live node after every failure, every operation recorded in
 * the history as the HTTP workloads' are, so the same checker judges them (docs/mqtt.md,
 * "Guarantees per QoS"):
 * - `q2-p1` (v5) and `q2-p2` (v3.1.1) publish at QoS 2 with persistent sessions; MQTT.js keeps
 *   every unfinished PUBLISH and PUBREL and sends them again (same packet id) after each
 *   reconnect, `q2-p1` with DUP set (as MQTT says), `q2-p2` without (as MQTT.js does: a client
 *   the gateway must not trust to set it). A message counts as acknowledged at its PUBREC (the
 *   commit): target `m:q2`.
 * - `q1-p1` (v3.1.1, persistent) publishes at QoS 1, acknowledged at its PUBACK: target `m:q1`.
 * - `sub1` (v3.1.1, clean session 0) subscribes `chaos/#` at QoS 1: every acknowledged message at
 *   least once (`m:sub1/q1`, `m:sub1/q2`). `sub2` (v5, session expiry 1 h) subscribes at QoS 2:
 *   QoS 1 messages at least once (`m:sub2/q1`), QoS 2 ones exactly once (`m:sub2/q2`, `once`).
 * - After the drain the `mqtt` topic's log (kept whole: the topic is created with limits
 *   retention before the gateway makes its own) is read: each QoS 2 message must be in it once,
 *   under one seq (`m:log/q2`), however many times its PUBLISH was sent.
 * - Besides the nemesis' faults, every client's link is cut every 2-6 s (`dropLinks`), unless
 *   the run says not to.
 *
 * @module
 */

import mqtt from "mqtt";
import type { IClientOptions, MqttClient } from "mqtt";
import { sessionSubscription } from "../../src/mqtt/mod.ts";
import type { History, SourceConfig } from "./history.ts";
import type { Control } from "./workloads.ts";

/** The checker's sources (see the module doc). */
export const MQTT_SOURCES: Record<string, SourceConfig> = {
  "m:sub1/q1": { mode: "at_least_once", fifo: false, fedBy: ["m:q1"] },
  "m:sub1/q2": { mode: "at_least_once", fifo: false, fedBy: ["m:q2"] },
  "m:sub2/q1": { mode: "at_least_once", fifo: false, fedBy: ["m:q1"] },
  "m:sub2/q2": { mode: "exactly_once", fifo: false, fedBy: ["m:q2"], once: true },
  // Each id under one seq (the duplicated rule for every source): no `once` to count it twice.
  "m:log/q2": { mode: "exactly_once", fifo: false, fedBy: ["m:q2"] },
};

const SUBSCRIBERS = [
  { name: "sub1", qos: 1, version: 4 },
  { name: "sub2", qos: 2, version: 5 },
] as const;

const clientId = (name: string) => `chaos-${name}`;

/** The sessions' broker subscriptions, as `s:<topic>/<subscription>` for the drain and states. */
export const MQTT_STAT_SOURCES: readonly string[] = SUBSCRIBERS.map((s) =>
  `s:mqtt/${sessionSubscription({ clientId: clientId(s.name), principal: undefined }, s.qos)}`
);

/** In flight per publisher, and the acknowledged-but-undelivered backlog that holds them. */
const LANES = 8;
const BACKLOG_MAX = 1_500;
/** How long publishes in flight may take once producing stops, before their client is ended. */
const SETTLE_MS = 60_000;

export interface MqttServer {
  readonly host: string;
  readonly port: number;
}

/** What the MQTT workers share: the history, the run's control, where the live nodes are. */
export class MqttContext {
  /** Per target, the ids acknowledged; per source, the ids delivered. */
  readonly acked = new Map<string, Set<string>>([["m:q1", new Set()], ["m:q2", new Set()]]);
  readonly delivered = new Map<string, Set<string>>();
  readonly #clients: { servers: MqttServer[]; client: MqttClient }[] = [];
  /** Client links dropped on purpose (`dropLinks`). */
  drops = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly history: History,
    readonly control: Control,
    /** The MQTT listeners of the members that are running now (a paused one included). */
    readonly live: () => MqttServer[],
    readonly nodeOf: (hostPort: string) => string,
    /** How many servers each client's list holds (MQTT.js walks it on each reconnect). */
    readonly slots: number,
  ) {
    for (const s of Object.keys(MQTT_SOURCES)) this.delivered.set(s, new Set());
  }

  /**
   * A client that reconnects (every 300 ms, to the next server of a list kept to the live
   * members) with a persistent session, its keep-alive short so a paused node is left soon.
   */
  connect(name: string, version: 4 | 5, markDup = false): MqttClient {
    const servers = this.#fill(new Array<MqttServer>(this.slots));
    const opts: IClientOptions = {
      servers,
      clientId: clientId(name),
      protocolVersion: version,
      clean: false,
      reconnectPeriod: 300,
      connectTimeout: 3_000,
      keepalive: 5,
      resubscribe: false,
      ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    };
    const client = mqtt.connect(opts);
    this.#clients.push({ servers, client });
    this.#timer ??= setInterval(() => {
      for (const c of this.#clients) this.#fill(c.servers);
    }, 500);
    if (markDup) client.on("close", () => setDup(client));
    return client;
  }

  /** Fills `servers` in place, cycling through the live members (its length never changes). */
  #fill(servers: MqttServer[]): MqttServer[] {
    const live = this.live();
    if (live.length === 0) return servers;
    const start = Math.floor(Math.random() * live.length);
    for (let i = 0; i < servers.length; i++) servers[i] = live[(start + i) % live.length];
    return servers;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * While producing, cuts each client's link (destroys its socket: the node sees it close) every
   * 2-6 s, so clients reconnect, resend and take their sessions over many times more often than
   * the nemesis alone makes them: a QoS 2 message is cut between PUBLISH and PUBREC, PUBREC and
   * PUBREL, PUBREL and PUBCOMP, on both sides.
   */
  async dropLinks(): Promise<void> {
    const next = new Map(
      this.#clients.map((c) => [c.client, Date.now() + 2_000 + Math.random() * 4_000]),
    );
    for (let i = 0; i < 10_000_000 && this.control.producing; i++) {
      await sleep(100);
      for (const [client, at] of next) {
        if (Date.now() < at || !client.connected) continue;
        client.stream.destroy();
        this.drops++;
        next.set(client, Date.now() + 2_000 + Math.random() * 4_000);
      }
    }
  }

  /** Acknowledged messages not yet delivered at the slowest subscriber source. */
  backlog(): number {
    let worst = 0;
    for (const [source, cfg] of Object.entries(MQTT_SOURCES)) {
      if (source.startsWith("m:log/")) continue;
      const acked = this.acked.get(cfg.fedBy[0])!.size;
      worst = Math.max(worst, acked - this.delivered.get(source)!.size);
    }
    return worst;
  }

  /** Acknowledged messages some subscriber source has not had yet. */
  missing(): number {
    let n = 0;
    for (const [source, cfg] of Object.entries(MQTT_SOURCES)) {
      if (source.startsWith("m:log/")) continue;
      const got = this.delivered.get(source)!;
      for (const id of this.acked.get(cfg.fedBy[0])!) if (!got.has(id)) n++;
    }
    return n;
  }

  where(client: MqttClient): string {
    return this.nodeOf(`${client.options.host}:${client.options.port}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sets DUP on every PUBLISH MQTT.js keeps for resending. MQTT.js 5.16 sends them again after a
 * reconnect as they were, DUP 0, where MQTT says a PUBLISH sent again carries DUP 1 (3.3.1-1);
 * its in-memory store holds the packet objects it will send, so setting the flag there is enough.
 */
function setDup(client: MqttClient): void {
  const store = client.outgoingStore as unknown as {
    _inflights?: Map<number, { cmd: string; dup?: boolean }>;
  };
  for (const p of store._inflights?.values() ?? []) if (p.cmd === "publish") p.dup = true;
}

/**
 * One publisher: `LANES` publishes in flight until producing stops, then up to `SETTLE_MS` for
 * those still in flight (MQTT.js sends them again on each reconnect), then its client ends.
 */
export async function mqttPublisher(
  ctx: MqttContext,
  name: string,
  qos: 1 | 2,
  version: 4 | 5,
  markDup: boolean,
): Promise<void> {
  const { history } = ctx;
  const client = ctx.connect(name, version, markDup);
  const target = `m:q${qos}`;
  const topic = `chaos/q${qos}/${name}`;
  const pending = new Map<string, number>();
  const byPacket = new Map<number, string>();
  const complete = (id: string, outcome: "ok" | "unknown", error?: string) => {
    const opId = pending.get(id);
    if (opId === undefined) return;
    pending.delete(id);
    history.add({
      type: "complete",
      t: history.now(),
      opId,
      outcome,
      node: ctx.where(client),
      ...(error === undefined ? {} : { error: error.slice(0, 200) }),
    });
    if (outcome === "ok") ctx.acked.get(target)!.add(id);
  };
  // QoS 2: the PUBREC (a success code) says the message is committed, before the PUBCOMP.
  client.on("packetsend", (p) => {
    if (p.cmd === "publish" && p.qos === 2) byPacket.set(p.messageId!, String(p.payload));
  });
  client.on("packetreceive", (p) => {
    if (p.cmd !== "pubrec" || (p.reasonCode ?? 0) >= 0x80) return;
    const id = byPacket.get(p.messageId!);
    if (id !== undefined) complete(id, "ok");
  });
  let n = 0;
  const lane = async () => {
    for (let i = 0; i < 10_000_000 && ctx.control.producing; i++) {
      if (ctx.backlog() > BACKLOG_MAX) {
        await sleep(50);
        continue;
      }
      const id = `${name}-${n++}`;
      const opId = history.opId();
      pending.set(id, opId);
      const messages = [{ target, id }];
      history.add({ type: "invoke", t: history.now(), op: "publish", opId, p: name, messages });
      try {
        await client.publishAsync(topic, id, { qos });
        complete(id, "ok");
      } catch (e) {
        // Refused or cut off: it may have been applied all the same.
        complete(id, "unknown", String((e as Error)?.message ?? e));
      }
    }
  };
  const lanes = Promise.all(Array.from({ length: LANES }, lane));
  for (let i = 0; i < 1_000_000 && ctx.control.producing; i++) await sleep(100);
  await Promise.race([lanes, sleep(SETTLE_MS)]);
  for (const id of [...pending.keys()]) complete(id, "unknown", "not answered by the end");
  await client.endAsync(true).catch(() => {});
}

/**
 * One subscriber: subscribes `chaos/#` once (its session keeps it from then on, through every
 * reconnect: MQTT.js is told not to subscribe again), records each delivery as a receive of one
 * message, and ends its client when consuming stops. `ready` resolves once the SUBACK granted it.
 */
export function mqttSubscriber(
  ctx: MqttContext,
  name: string,
  qos: 1 | 2,
  version: 4 | 5,
): { ready: Promise<void>; done: Promise<void> } {
  const { history } = ctx;
  const client = ctx.connect(name, version);
  let lostSession = 0;
  client.on("connect", (ack) => {
    if (subscribed && !ack.sessionPresent) lostSession++;
  });
  client.on("message", (topic, payload, packet) => {
    const id = payload.toString();
    const source = `m:${name}/${topic.split("/")[1]}`;
    const opId = history.opId();
    const t = history.now();
    history.add({ type: "invoke", t, op: "receive", opId, p: name, source });
    history.add({
      type: "complete",
      t,
      opId,
      outcome: "ok",
      node: ctx.where(client),
      msgs: [{ id, seq: 0, attempt: packet.dup ? 2 : 1 }],
    });
    ctx.delivered.get(source)?.add(id);
  });
  let subscribed = false;
  const ready = (async () => {
    for (let attempt = 0; attempt < 120 && !subscribed; attempt++) {
      try {
        const granted = await client.subscribeAsync({ "chaos/#": { qos } });
        subscribed = granted.every((g) => g.qos === qos);
      } catch { /* not connected yet, or no leader: again */ }
      if (!subscribed) await sleep(500);
    }
    if (!subscribed) throw new Error(`${name} could not subscribe`);
  })();
  const done = (async () => {
    await ready.catch(() => {});
    for (let i = 0; i < 10_000_000 && ctx.control.consuming; i++) await sleep(100);
    if (lostSession > 0) console.error(`chaos: ${name} found its session gone ${lostSession}x`);
    await client.endAsync(true).catch(() => {});
  })();
  return { ready, done };
}

/**
 * Starts the subscribers, waits for their SUBACKs, then starts the publishers, and with
 * `linkCuts` the cutting of the clients' links (`dropLinks`).
 */
export async function startMqttWorkload(ctx: MqttContext, linkCuts: boolean) {
  const subs = SUBSCRIBERS.map((s) => mqttSubscriber(ctx, s.name, s.qos, s.version));
  await Promise.all(subs.map((s) => s.ready));
  const producers = [
    mqttPublisher(ctx, "q2-p1", 2, 5, true),
    mqttPublisher(ctx, "q2-p2", 2, 4, false),
    mqttPublisher(ctx, "q1-p1", 1, 4, true),
  ];
  if (linkCuts) producers.push(ctx.dropLinks());
  return { producers, consumers: subs.map((s) => s.done) };
}

/** Waits (bounded) until every subscriber source has every acknowledged message. */
export async function awaitDeliveries(
  ctx: MqttContext,
  ms: number,
): Promise<{ done: boolean; detail: string }> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (ctx.missing() === 0) return { done: true, detail: "" };
    await sleep(500);
  }
  return { done: false, detail: `${ctx.missing()} acknowledged deliveries still missing` };
}

/**
 * Creates the `mqtt` topic with limits retention (no bound) before any CONNECT, so its log keeps
 * every message for `readMqttLog` (the gateway leaves a topic that has a retention alone).
 * Retried on every node for up to 60 s.
 */
export async function keepMqttLog(urls: readonly string[]): Promise<void> {
  let last = "";
  for (let i = 0; i < 120; i++) {
    const url = urls[i % urls.length];
    try {
      const res = await fetch(`${url}/v1/topics/mqtt`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ retention: "limits" }),
        signal: AbortSignal.timeout(3_000),
      });
      last = `${res.status} ${await res.text()}`;
      if (res.ok) return;
    } catch (e) {
      last = String((e as Error)?.message ?? e);
    }
    await sleep(500);
  }
  throw new Error(`Cannot create the mqtt topic: ${last}`);
}

/**
 * Reads the QoS 2 messages of the `mqtt` topic's log (linearizable, through any of `urls`), each
 * page recorded as one receive on `m:log/q2` with the messages' real seqs: a QoS 2 message
 * applied twice shows as one id under two seqs (the checker's duplicated rule), one missing as
 * lost. Bounded by 10,000 pages and 60 s.
 */
export async function readMqttLog(history: History, urls: readonly string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  let from = 0;
  for (let page = 0, i = 0; page < 10_000 && Date.now() < deadline; i++) {
    const url = urls[i % urls.length];
    const opId = history.opId();
    const t = history.now();
    try {
      const res = await fetch(
        `${url}/v1/topics/mqtt/messages?fromSeq=${from}&limit=1000&subject=chaos.q2.>`,
        { signal: AbortSignal.timeout(5_000) },
      );
      if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
      const body = await res.json() as {
        messages: { seq: number; body: unknown }[];
        nextSeq: number;
      };
      page++;
      if (body.messages.length > 0) {
        history.add({ type: "invoke", t, op: "receive", opId, p: "log", source: "m:log/q2" });
        const msgs = body.messages.map((m) => ({ id: String(m.body), seq: m.seq, attempt: 1 }));
        history.add({ type: "complete", t: history.now(), opId, outcome: "ok", msgs });
      }
      if (body.messages.length === 0 && body.nextSeq <= from) return;
      from = body.nextSeq;
    } catch {
      await sleep(500);
    }
  }
  throw new Error("Cannot read the whole mqtt topic log within 60 s");
}
