/**
 * A large backlog and the traffic over it, for `catchup_bench.ts`: published through the project's
 * client on its stream, every message with an id `<prefix><n>`, and an `IdLedger` per source that
 * counts what was acknowledged to the publisher and what each delivery handed out, so a run ends
 * with the lost (acknowledged, never delivered) and the duplicated (delivered twice) ids.
 *
 * @module
 */

import { Client } from "../../src/client/mod.ts";
import { sleep } from "../e2e/nodes.ts";

export const BODY = "x".repeat(256);

/** A queue's name, or a topic's subscription. */
type Source = Parameters<Client["receive"]>[0];

/** What was published under one id prefix and how often each id was delivered. */
export class IdLedger {
  readonly prefix: string;
  /** 1: its publish was acknowledged; 2: its outcome is unknown (it may be in). */
  readonly #published: Uint8Array;
  readonly #delivered: Uint8Array;
  constructor(prefix: string, capacity: number) {
    this.prefix = prefix;
    this.#published = new Uint8Array(capacity);
    this.#delivered = new Uint8Array(capacity);
  }
  published(n: number, sure = true): void {
    this.#published[n] = sure ? 1 : 2;
  }
  /** Counts one delivery of `id`; false when the id is not this ledger's. */
  delivered(id: string): boolean {
    if (!id.startsWith(this.prefix)) return false;
    const n = Number(id.slice(this.prefix.length));
    if (this.#delivered[n] < 255) this.#delivered[n]++;
    return true;
  }
  /** Acknowledged ids never delivered, ids delivered more than once, and the totals. */
  verdict(): { acked: number; unknown: number; delivered: number; lost: number; dup: number } {
    let acked = 0, unknown = 0, delivered = 0, lost = 0, dup = 0;
    for (let n = 0; n < this.#published.length; n++) {
      const p = this.#published[n], d = this.#delivered[n];
      if (p === 1) acked++;
      if (p === 2) unknown++;
      if (d > 0) delivered++;
      if (p === 1 && d === 0) lost++;
      if (d > 1) dup++;
      if (p === 0 && d > 0) dup++; // delivered, never published: counted as a phantom
    }
    return { acked, unknown, delivered, lost, dup };
  }
}

export function newClient(nodes: string[]): Client {
  return new Client({
    nodes,
    timeoutMs: 30_000,
    retry: { attempts: 40, totalMs: 120_000, baseDelayMs: 50, maxDelayMs: 2_000 },
  });
}

/**
 * Publishes ids `0..count-1` of `ledgers` (one prefix: a topic's message reaches each
 * subscription, each with its ledger) in batches of `batch`, `lanes` batches in flight, to a
 * queue or (with `topic`) a topic. A batch the client gives up on fails the fill.
 */
export async function fill(
  client: Client,
  target: { queue: string } | { topic: string },
  ledgers: IdLedger[],
  count: number,
  opts: { batch: number; lanes: number; progress?: (done: number) => void },
): Promise<void> {
  let next = 0, done = 0;
  await Promise.all(Array.from({ length: opts.lanes }, async () => {
    while (next < count) {
      const start = next, end = Math.min(count, start + opts.batch);
      next = end;
      const messages = [];
      const prefix = ledgers[0].prefix;
      for (let n = start; n < end; n++) messages.push({ id: `${prefix}${n}`, body: BODY });
      const results = "queue" in target
        ? await client.publishBatch(target.queue, messages)
        : await client.topics.publishBatch(target.topic, messages);
      for (let k = 0; k < results.length; k++) {
        const r = results[k] as { error?: unknown };
        if (r.error !== undefined) throw new Error(`publish of ${messages[k].id}: ${r.error}`);
        for (const ledger of ledgers) ledger.published(start + k);
      }
      done += end - start;
      opts.progress?.(done);
    }
  }));
}

/** Single publishes, `inFlight` at a time, until stopped; each call's latency is kept. */
export class Producer {
  readonly latenciesMs: number[] = [];
  /** When each call ended (Date.now()), beside its latency: to line the slow ones up with logs. */
  readonly endedAt: number[] = [];
  failures = 0;
  #stop = false;
  #n = 0;
  readonly #done: Promise<void>;
  constructor(client: Client, queue: string, ledger: IdLedger, inFlight: number, maxCount: number) {
    this.#done = Promise.all(Array.from({ length: inFlight }, async () => {
      while (!this.#stop && this.#n < maxCount) {
        const n = this.#n++;
        const t0 = performance.now();
        try {
          await client.publish(queue, { id: `${ledger.prefix}${n}`, body: BODY });
          this.latenciesMs.push(performance.now() - t0);
          this.endedAt.push(Date.now());
          ledger.published(n);
        } catch {
          this.failures++;
          ledger.published(n, false);
        }
      }
    })).then(() => {});
  }
  /** The `n` slowest calls from the `from`th on: latency and the time it ended. */
  slowest(from: number, n: number): string {
    const idx = [...this.latenciesMs.keys()].slice(from);
    idx.sort((a, b) => this.latenciesMs[b] - this.latenciesMs[a]);
    return idx.slice(0, n).map((i) =>
      `${this.latenciesMs[i].toFixed(0)} ms at ${
        new Date(this.endedAt[i]).toISOString().slice(11, 23)
      }`
    ).join(", ");
  }
  get count(): number {
    return this.#n;
  }
  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

/**
 * Receives up to `max` at a time from `source` and acks them, counting every id delivered into
 * the ledgers, until stopped, or (with `untilEmpty`) until `emptyPolls` receives in a row found
 * nothing. Long leases: a message is handed out again only if its ack was lost.
 */
export async function consume(
  client: Client,
  source: Source,
  ledgers: IdLedger[],
  opts: { max: number; stop: () => boolean; untilEmpty?: boolean; onBatch?: (n: number) => void },
): Promise<number> {
  let total = 0, empty = 0;
  const deadline = Date.now() + 30 * 60_000;
  while (!opts.stop() && Date.now() < deadline) {
    const got = await client.receive(source, { max: opts.max, waitMs: 200, leaseMs: 600_000 })
      .catch(() => null);
    if (got === null) {
      await sleep(100);
      continue;
    }
    if (got.length === 0) {
      if (opts.untilEmpty && ++empty >= 5) break;
      continue;
    }
    empty = 0;
    for (const m of got) {
      if (!ledgers.some((l) => l.delivered(m.id))) throw new Error(`unexpected id ${m.id}`);
    }
    await client.ack(source, got.map((m) => m.receipt));
    total += got.length;
    opts.onBatch?.(total);
  }
  return total;
}

/** p50, p99 and max of a list of latencies (ms), and the count. */
export function latencySummary(xs: number[]): string {
  if (xs.length === 0) return "no samples";
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return `n ${s.length}, p50 ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${
    s[s.length - 1].toFixed(0)
  } ms`;
}
