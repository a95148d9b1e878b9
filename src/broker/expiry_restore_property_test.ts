/**
 * Idempotency-Keys and sessions expire on every replica at the same entry, whether the replica
 * applied the whole log or restored a snapshot on the way (fast-check). `IdemTable.expire` and
 * `SessionTable.expire` remember when their front expires and skip the walk before then; a
 * restored replica starts without that memory. A live state and one restored from its own
 * snapshot at random points, and one restored before every entry, apply the same random log (keyed publishes and releases, sessions
 * opened, written in, kept alive and closed, time moving on by steps around the short TTLs): every
 * answer and the final snapshot bytes must be the same.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { Command, Envelope } from "./commands.ts";
import { restoreSnapshot, snapshotBytes } from "./snapshot.ts";
import { BrokerState } from "./state.ts";

const IDEM_TTL_MS = 2_000;
const encoder = new TextEncoder();

type Op =
  | { kind: "advance"; ms: number }
  | { kind: "keyed"; key: number }
  | { kind: "release"; key: number }
  | { kind: "open"; timeoutMs: number }
  | { kind: "write"; session: number; again: boolean }
  | { kind: "keepalive"; session: number }
  | { kind: "close"; session: number }
  | { kind: "restore" };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("advance" as const),
    ms: fc.constantFrom(0, 1, 250, 499, 500, 501, 999, 1_000, 1_999, 2_000, 2_001, 3_000),
  }),
  fc.record({ kind: fc.constant("keyed" as const), key: fc.nat({ max: 5 }) }),
  fc.record({ kind: fc.constant("release" as const), key: fc.nat({ max: 5 }) }),
  fc.record({
    kind: fc.constant("open" as const),
    timeoutMs: fc.constantFrom(500, 1_000, 1_500, 3_000),
  }),
  fc.record({ kind: fc.constant("write" as const), session: fc.nat(), again: fc.boolean() }),
  fc.record({ kind: fc.constant("keepalive" as const), session: fc.nat() }),
  fc.record({ kind: fc.constant("close" as const), session: fc.nat() }),
  fc.record({ kind: fc.constant("restore" as const) }),
);

/**
 * Three replicas of one log: `live` applies all of it, `restored` restores itself from its own
 * snapshot now and then, `fresh` before every entry (it never remembers a front).
 */
class Replicas {
  live = new BrokerState({ idemTtlMs: IDEM_TTL_MS });
  restored = new BrokerState({ idemTtlMs: IDEM_TTL_MS });
  fresh = new BrokerState({ idemTtlMs: IDEM_TTL_MS });
  index = 0;
  now = 1_000_000;
  /** Sessions opened (ids) and the next seq of each. */
  readonly sessions: { id: number; seq: number }[] = [];

  apply(cmd: Command, extra: Omit<Envelope, "ts" | "cmd"> = {}): unknown {
    this.index++;
    const env = { ts: this.now, cmd, ...extra } as Envelope;
    const a = this.live.apply(this.index, env);
    const b = this.restored.apply(this.index, env);
    this.fresh = restoreSnapshot(snapshotBytes(this.fresh));
    const c = this.fresh.apply(this.index, env);
    assert.deepEqual(b, a, `entry ${this.index}: ${JSON.stringify(cmd)}`);
    assert.deepEqual(c, a, `entry ${this.index}: ${JSON.stringify(cmd)}`);
    return a;
  }

  run(o: Op): void {
    const s = this.sessions.length === 0 ? undefined : this.sessions[
      ("session" in o ? o.session : 0) % this.sessions.length
    ];
    const body = encoder.encode(`"m${this.index}"`);
    switch (o.kind) {
      case "advance":
        this.now += o.ms;
        this.apply({ op: "tick" });
        return;
      case "keyed":
        this.apply({ op: "publish", queue: "q", message: { body } }, {
          idem: { key: `k${o.key}`, fingerprint: "f" },
        });
        return;
      case "release":
        this.apply({ op: "idempotency_release", key: `k${o.key}` });
        return;
      case "open": {
        const r = this.apply({ op: "session_open", timeoutMs: o.timeoutMs }) as {
          ok: boolean;
          session: number;
        };
        if (r.ok) this.sessions.push({ id: r.session, seq: 1 });
        return;
      }
      case "write": {
        if (s === undefined) return;
        // Again: the same place once more (a retry), answered from the session or refused.
        const seq = o.again && s.seq > 1 ? s.seq - 1 : s.seq++;
        this.apply({ op: "publish", queue: "q", message: { body } }, {
          session: { id: s.id, seq, lowest: seq },
        });
        return;
      }
      case "keepalive":
        if (s !== undefined) this.apply({ op: "session_keepalive", session: s.id });
        return;
      case "close":
        if (s !== undefined) this.apply({ op: "session_close", session: s.id });
        return;
      case "restore":
        this.restored = restoreSnapshot(snapshotBytes(this.restored));
        return;
    }
  }
}

Deno.test("expiry property: keys and sessions expire at the same entry on a live and a restored replica", () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), (ops) => {
      const r = new Replicas();
      r.apply({ op: "queue_put", queue: "q", options: {} });
      for (const o of ops) r.run(o);
      assert.deepEqual(snapshotBytes(r.restored), snapshotBytes(r.live));
      assert.deepEqual(snapshotBytes(r.fresh), snapshotBytes(r.live));
    }),
    { numRuns: 600 },
  );
});
