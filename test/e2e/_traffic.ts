/**
 * Producer traffic and a drain-and-classify checker for the fault tests: unique ids published
 * through the client (which retries with the same id), then every message received and acked,
 * and each id classified in the style of the Jepsen queue checker (lost, duplicated, unexpected).
 *
 * @module
 */

import { Client, UnknownOutcome } from "../../src/client/mod.ts";

/** What the producers saw. */
export interface Produced {
  /** Ids whose publish was answered 2xx. */
  readonly acknowledged: Set<string>;
  /** Ids whose publish outcome stayed unknown after every retry (then retried once more). */
  readonly unknown: Set<string>;
  /** Every id a producer tried. */
  readonly attempted: Set<string>;
}

/**
 * Runs `producers` loops publishing `prefix-<p>-<i>` to `queue` until `stop` aborts or each has
 * sent `maxEach`. A publish that ends in `UnknownOutcome` is retried with the same id (never
 * reported as failed); anything else is rethrown.
 */
export async function produce(
  client: Client,
  queue: string,
  opts: { producers: number; maxEach: number; prefix: string; stop: AbortSignal },
): Promise<Produced> {
  const out: Produced = { acknowledged: new Set(), unknown: new Set(), attempted: new Set() };
  await Promise.all(Array.from({ length: opts.producers }, async (_, p) => {
    for (let i = 0; i < opts.maxEach && !opts.stop.aborted; i++) {
      const id = `${opts.prefix}-${p}-${i}`;
      out.attempted.add(id);
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await client.publish(queue, { id, body: { p, i } });
          out.acknowledged.add(id);
          out.unknown.delete(id);
          break;
        } catch (e) {
          if (!(e instanceof UnknownOutcome)) throw e;
          out.unknown.add(id);
        }
      }
    }
  }));
  return out;
}

/** Receives and acks everything in `queue` until it stays empty; counts deliveries per id. */
export async function drain(client: Client, queue: string, timeoutMs = 30_000) {
  const deliveries = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  let emptyPolls = 0;
  while (emptyPolls < 2) {
    if (Date.now() > deadline) throw new Error(`Draining ${queue} took over ${timeoutMs} ms`);
    const msgs = await client.receive(queue, { max: 1000, waitMs: 200, leaseMs: 60_000 });
    if (msgs.length === 0) {
      emptyPolls++;
      continue;
    }
    emptyPolls = 0;
    for (const m of msgs) deliveries.set(m.id, (deliveries.get(m.id) ?? 0) + 1);
    const results = await client.ack(queue, msgs.map((m) => m.receipt));
    const bad = results.filter((r) => r.status !== "acked");
    if (bad.length > 0) throw new Error(`Draining ${queue}: acks answered ${JSON.stringify(bad)}`);
  }
  return deliveries;
}

/** The checker's verdict: every list must be empty for a pass. */
export function classify(produced: Produced, deliveries: Map<string, number>) {
  const lost = [...produced.acknowledged].filter((id) => !deliveries.has(id));
  const duplicated = [...deliveries].filter(([, n]) => n > 1).map(([id]) => id);
  const unexpected = [...deliveries.keys()].filter((id) => !produced.attempted.has(id));
  const recovered = [...produced.unknown].filter((id) => deliveries.has(id)).length;
  return { lost, duplicated, unexpected, recovered };
}
