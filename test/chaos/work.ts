/**
 * The workloads a chaos run can drive, behind one shape (`Work`): the queue and topic workers
 * over HTTP or the stream (`workloads.ts`), or the MQTT clients (`mqtt_workloads.ts`).
 *
 * @module
 */

import type { Nodes } from "../e2e/nodes.ts";
import type { Prng } from "../sim/prng.ts";
import type { History } from "./history.ts";
import {
  awaitDeliveries,
  keepMqttLog,
  MQTT_SOURCES,
  MQTT_STAT_SOURCES,
  MqttContext,
  type MqttServer,
  readMqttLog,
  startMqttWorkload,
} from "./mqtt_workloads.ts";
import {
  consumer,
  Control,
  mover,
  producer,
  reader,
  setUp,
  SOURCES,
  Worker,
  workerClient,
} from "./workloads.ts";

/** A running workload: its workers, what the drain waits for, which sources the states read. */
export interface Work {
  readonly producers: readonly Promise<void>[];
  readonly consumers: readonly Promise<void>[];
  /** Sources (`q:<queue>`, `s:<topic>/<subscription>`) read by the drain and each node's state. */
  readonly statSources: readonly string[];
  /** The final drain, bounded by `msMax`. */
  drain(msMax: number): Promise<{ done: boolean; detail: string }>;
  /** Runs after the drain, before the consumers stop. */
  afterDrain?(): Promise<void>;
  stop?(): void;
}

/** The queue and topic workloads over HTTP or the stream. */
export async function httpWork(
  history: History,
  control: Control,
  on: {
    urls: string[];
    nodeOf: (host: string) => string;
    transport: "http" | "stream";
    workPrng: Prng;
    drainStats: DrainStats;
  },
): Promise<Work> {
  const { urls, nodeOf, transport, workPrng, drainStats } = on;
  await setUp(workerClient(urls, () => {}));
  history.add({ type: "config", t: history.now(), sources: SOURCES });
  const w = (name: string) => new Worker(name, history, control, urls, nodeOf, transport);
  const statSources = Object.keys(SOURCES);
  return {
    ...startWorkload(w, workPrng),
    statSources,
    drain: (msMax) => drainStats(statSources, msMax),
  };
}

/** Waits (bounded) until the sources have nothing ready, leased or delayed. */
export type DrainStats = (
  sources: readonly string[],
  msMax: number,
) => Promise<{ done: boolean; detail: string }>;

/**
 * The MQTT workload (`mqtt_workloads.ts`): the `mqtt` topic made to keep its log first, then the
 * subscribers, then the publishers. The drain waits for every acknowledged message at every
 * subscriber, then for the sessions' subscriptions to be empty; then the log is read.
 */
export async function mqttWork(
  history: History,
  control: Control,
  on: {
    nodes: Nodes;
    live: () => string[];
    mqttServer: (id: string) => MqttServer;
    drainStats: DrainStats;
    linkCuts: boolean;
  },
): Promise<Work> {
  const { nodes, live, mqttServer, drainStats } = on;
  const liveUrls = () => live().map((id) => nodes.url(id));
  await keepMqttLog(liveUrls());
  history.add({ type: "config", t: history.now(), sources: MQTT_SOURCES });
  const byServer = new Map(
    nodes.allIds().map((id) => {
      const s = mqttServer(id);
      return [`${s.host}:${s.port}`, id];
    }),
  );
  const ctx = new MqttContext(
    history,
    control,
    () => live().map(mqttServer),
    (hostPort) => byServer.get(hostPort) ?? hostPort,
    nodes.allIds().length,
  );
  const { producers, consumers } = await startMqttWorkload(ctx, on.linkCuts);
  return {
    producers,
    consumers,
    statSources: MQTT_STAT_SOURCES,
    async drain(msMax) {
      const started = Date.now();
      const got = await awaitDeliveries(ctx, msMax);
      if (!got.done) return got;
      return await drainStats(MQTT_STAT_SOURCES, Math.max(1_000, msMax - (Date.now() - started)));
    },
    async afterDrain() {
      await readMqttLog(history, liveUrls()).catch((e) =>
        history.add({ type: "drain", t: history.now(), done: false, detail: String(e) })
      );
    },
    stop: () => {
      ctx.stop();
      if (on.linkCuts) console.error(`chaos: MQTT client links cut on purpose: ${ctx.drops}`);
    },
  };
}
/**
 * The queue and topic workload, each worker on its own client: producers (and the linearizable readers) run
 * until `control.producing` is off; consumers and movers until `control.consuming` is.
 */
function startWorkload(w: (name: string) => Worker, workPrng: Prng) {
  const producers = [
    producer(w("eo-p1"), "q:eo", 10),
    producer(w("eo-p2"), "q:eo", 10),
    producer(w("fifo-p1"), "q:fifo", 10, (n) => `g${n % 7}`),
    producer(w("ev-p1"), "t:events", 10),
    producer(w("tx-p1"), "q:txsrc", 10),
    reader(w("eo-r1"), "q:eo"),
    reader(w("fifo-r1"), "q:fifo"),
  ];
  const consumers = [
    consumer(w("eo-c1"), "q:eo"),
    consumer(w("eo-c2"), "q:eo", 50, 0.03, () => workPrng.next()),
    consumer(w("fifo-c1"), "q:fifo"),
    consumer(w("fifo-c2"), "q:fifo", 50, 0.03, () => workPrng.next()),
    consumer(w("s1-c1"), "s:events/s1"),
    consumer(w("s2-c1"), "s:events/s2"),
    consumer(w("s3-c1"), "s:events/s3"),
    consumer(w("txdst-c1"), "q:txdst"),
    mover(w("mover-1")),
    mover(w("mover-2")),
  ];
  return { producers, consumers };
}
