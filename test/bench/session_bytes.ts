/**
 * What sessions and Idempotency-Keys cost the state machine: the heap per idle session, per
 * session holding one publish answer, and per key (a publish answer, a 36-character key), with
 * the byte bound's estimate next to each; and the snapshot bytes of each. Also the apply cost of
 * a publish in a session against one without.
 * `deno run --allow-env --v8-flags=--expose-gc test/bench/session_bytes.ts [count]`
 *
 * @module
 */

import { BrokerState, type Envelope, snapshotBytes } from "../../src/broker/mod.ts";

const count = Number(Deno.args[0] ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

function heap(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

function fresh(): { b: BrokerState; apply: (e: Omit<Envelope, "ts">) => unknown } {
  const b = new BrokerState({ sessionsMax: 10 * count });
  let index = 0;
  const apply = (e: Omit<Envelope, "ts">) => b.apply(++index, { ts: 1_000, ...e });
  apply({ cmd: { op: "queue_put", queue: "q", options: {} } });
  return { b, apply };
}

const body = new Uint8Array(16);
const publish = { op: "publish", queue: "q", message: { body } } as const;

function measure(label: string, fill: (apply: (e: Omit<Envelope, "ts">) => unknown) => void) {
  const { b, apply } = fresh();
  const base = snapshotBytes(b).length;
  const before = heap();
  fill(apply);
  const after = heap();
  const snap = snapshotBytes(b).length;
  const bound = b.sessions.bytes + b.idem.bytes;
  console.log(
    `${label}: heap ${((after - before) / count).toFixed(0)} B each, bound counts ` +
      `${(bound / count).toFixed(0)} B, snapshot ${((snap - base) / count).toFixed(0)} B`,
  );
  return b;
}

// Publishes without dedup in the same queue cost the same in every case: measured apart.
measure("publish, no session (message only)", (apply) => {
  for (let i = 0; i < count; i++) apply({ cmd: publish });
});
measure("idle session", (apply) => {
  for (let i = 0; i < count; i++) apply({ cmd: { op: "session_open" } });
});
measure("session + one stored publish answer (incl. the message)", (apply) => {
  for (let i = 0; i < count; i++) {
    const r = apply({ cmd: { op: "session_open" } }) as { session: number };
    apply({ cmd: publish, session: { id: r.session, seq: 1, lowest: 1 } });
  }
});
measure("Idempotency-Key + publish answer (incl. the message)", (apply) => {
  for (let i = 0; i < count; i++) {
    apply({ cmd: publish, idem: { key: crypto.randomUUID(), fingerprint: "x".repeat(44) } });
  }
});

// Apply cost: one session, lowest advancing, against no session. Medians of 5.
function rate(withSession: boolean): number {
  const { apply } = fresh();
  const r = apply({ cmd: { op: "session_open" } }) as { session: number };
  const t0 = performance.now();
  for (let seq = 1; seq <= count; seq++) {
    if (withSession) apply({ cmd: publish, session: { id: r.session, seq, lowest: seq } });
    else apply({ cmd: publish });
  }
  return count / (performance.now() - t0) * 1000;
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const plain: number[] = [];
const inSession: number[] = [];
for (let i = 0; i < 5; i++) {
  plain.push(rate(false));
  inSession.push(rate(true));
}
const p = median(plain);
const s = median(inSession);
console.log(
  `apply publish: ${p.toFixed(0)}/s plain, ${s.toFixed(0)}/s in a session (ratio ${
    (s / p).toFixed(2)
  })`,
);
