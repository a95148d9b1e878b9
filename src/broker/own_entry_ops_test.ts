/**
 * The leader's own entries (`ownEntry`) against decoding, over the commands own_entry_test.ts
 * leaves out: sessions (open, writes with a session ref repeated, keepalive, close),
 * transactions, topic batches, nack/extend, purge and redrive, Idempotency-Keys repeated and
 * released, messages with and without ids, groups, subjects and headers. The kept entry is
 * frozen deeply before it applies: apply must read the proposals, never change them (the HTTP
 * layer still holds them, and followers apply fresh objects). And the same entries applied
 * without answers (`applyEntry`'s `answers` false, as on a follower) leave the same state, and
 * answer the same but `UNANSWERED` for what they did not make.
 */

import assert from "node:assert/strict";
import type { Command, MessageInput, Proposal, SessionRef } from "./commands.ts";
import { decodeEntry, encodeEntry, packProposal } from "./envelope.ts";
import { ownEntry } from "./own_entry.ts";
import { snapshotBytes } from "./snapshot.ts";
import { BatchResults, BrokerState } from "./state.ts";
import { UNANSWERED } from "./validate.ts";

const encoder = new TextEncoder();

/** A small deterministic generator (xorshift32). */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Freezes `value` and everything it holds (typed arrays cannot be frozen; they are left). */
function deepFreeze(value: unknown, depth = 0): void {
  if (depth > 40 || typeof value !== "object" || value === null) return;
  if (ArrayBuffer.isView(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v, depth + 1);
}

/** Every receipt in a result (receives, transactions), for later acks. */
function receiptsOf(result: unknown, out: string[]): void {
  const ms = (result as { messages?: { receipt?: string }[] } | undefined)?.messages;
  for (const m of ms ?? []) if (typeof m.receipt === "string") out.push(m.receipt);
}

interface Gen {
  readonly rand: () => number;
  readonly pick: <T>(xs: readonly T[]) => T;
  readonly receipts: string[];
  readonly subReceipts: string[];
  readonly sessions: number[];
  readonly message: () => MessageInput;
  readonly withSubject: (m: MessageInput) => MessageInput;
}

/** One command of any kind, on what `g` learned so far. */
function randomCommand(g: Gen): Command {
  const { rand, pick, receipts, subReceipts, sessions, message, withSubject } = g;
  const roll = rand();
  if (roll < 0.15) return { op: "publish", queue: pick(["q", "r"]), message: message() };
  if (roll < 0.22) {
    const messages = Array.from({ length: 1 + Math.floor(rand() * 4) }, message);
    return { op: "publish_batch", queue: "q", messages };
  }
  if (roll < 0.3) return { op: "topic_publish", topic: "t", message: withSubject(message()) };
  if (roll < 0.35) {
    const messages = Array.from(
      { length: 1 + Math.floor(rand() * 3) },
      () => withSubject(message()),
    );
    return { op: "topic_publish_batch", topic: "t", messages };
  }
  if (roll < 0.45) return { op: "receive", queue: pick(["q", "r"]), max: 3 };
  if (roll < 0.5) {
    return { op: "subscription_receive", topic: "t", subscription: "s", max: 2 };
  }
  if (roll < 0.56 && receipts.length > 0) {
    return { op: "ack", queue: "q", receipts: receipts.splice(0, 2) };
  }
  if (roll < 0.6 && receipts.length > 0) {
    return { op: "nack", queue: "q", receipts: receipts.splice(0, 1), delayMs: 5 };
  }
  if (roll < 0.63 && receipts.length > 0) {
    return { op: "extend", queue: "q", receipts: receipts.slice(0, 2), leaseMs: 1000 };
  }
  if (roll < 0.66 && subReceipts.length > 0) {
    return {
      op: "subscription_ack",
      topic: "t",
      subscription: "s",
      receipts: subReceipts.splice(0, 2),
    };
  }
  if (roll < 0.74) {
    const ack = receipts.length > 0 ? [{ queue: "q", receipt: receipts.shift()! }] : [];
    return {
      op: "transaction",
      ack,
      publish: [{ queue: "r", ...message() }, { topic: "t", ...withSubject(message()) }],
    };
  }
  if (roll < 0.76) return { op: "queue_purge", queue: "r" };
  if (roll < 0.78) return { op: "queue_redrive", queue: "dlq" };
  if (roll < 0.8) return { op: "idempotency_release", key: `k${Math.floor(rand() * 6)}` };
  if (roll < 0.84) return { op: "session_open", timeoutMs: 60_000 };
  if (roll < 0.86 && sessions.length > 0) {
    return { op: "session_keepalive", session: pick(sessions) };
  }
  if (roll < 0.87 && sessions.length > 0) return { op: "session_close", session: pick(sessions) };
  return { op: "tick" };
}

function generator(rand: () => number) {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const receipts: string[] = [];
  const subReceipts: string[] = [];
  const sessions: number[] = [];
  const seqs = new Map<number, number>();
  const message = (): MessageInput => {
    const m: Record<string, unknown> = {
      body: encoder.encode(JSON.stringify({ n: Math.floor(rand() * 1000) })),
    };
    if (rand() < 0.5) m.id = `id-${Math.floor(rand() * 200)}`;
    if (rand() < 0.3) m.headers = JSON.parse(pick(['{"h":"1"}', '{"a":"é","b":""}', "{}"]));
    if (rand() < 0.2) m.group = pick(["g1", "g2"]);
    if (rand() < 0.1) m.delayMs = pick([0, 10, 2000]);
    if (rand() < 0.1) m.ttlMs = pick([5, 60_000]);
    return m as unknown as MessageInput;
  };
  const withSubject = (m: MessageInput) => ({ ...m, subject: pick(["a.b", "a.c", "x"]) });
  const g: Gen = { rand, pick, receipts, subReceipts, sessions, message, withSubject };
  const command = () => randomCommand(g);
  const proposal = (): Proposal => {
    const cmd = command();
    const p: Record<string, unknown> = { cmd };
    if (rand() < 0.15) p.idem = { key: `k${Math.floor(rand() * 6)}`, fingerprint: "f" };
    if (rand() < 0.3 && sessions.length > 0) {
      const id = pick(sessions);
      const last = seqs.get(id) ?? 0;
      // Now and then a write repeated in its session: the stored answer, not applied again.
      const seq = rand() < 0.2 && last > 0 ? last : last + 1;
      seqs.set(id, seq);
      p.session = { id, seq, lowest: Math.max(1, seq - 3) } satisfies SessionRef;
    }
    if (rand() < 0.3) p.owner = pick(["alice", "bob"]);
    return p as unknown as Proposal;
  };
  const learn = (index: number, proposals: Proposal[], results: readonly unknown[]) => {
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as { ok?: boolean; session?: number } | undefined;
      if (proposals[i]?.cmd.op === "session_open" && r?.ok === true) sessions.push(index);
      const sub = proposals[i]?.cmd.op === "subscription_receive";
      receiptsOf(results[i], sub ? subReceipts : receipts);
    }
  };
  return { proposal, learn };
}

let unansweredSeen = 0;

/**
 * An answer applied without answers (`lean`) against the same entry applied with them: the same,
 * or `UNANSWERED` where the answer was a success (a refusal is answered either way).
 */
function sameOrUnanswered(lean: unknown, full: unknown): void {
  if (lean instanceof BatchResults && full instanceof BatchResults) {
    assert.equal(lean.results.length, full.results.length);
    lean.results.forEach((r, i) => sameOrUnanswered(r, full.results[i]));
    return;
  }
  if (lean === UNANSWERED) {
    assert.equal((full as { ok?: unknown }).ok, true);
    unansweredSeen++;
    return;
  }
  assert.deepStrictEqual(lean, full);
}

Deno.test("own entries frozen, and entries without answers, apply as decoded ones do", () => {
  for (let seed = 1; seed <= 6; seed++) {
    const rand = prng(9000 + seed);
    const gen = generator(rand);
    const decoded = new BrokerState();
    const own = new BrokerState();
    // A follower's replica: nobody reads its answers (`applyEntry`'s `answers` false).
    const unanswered = new BrokerState();
    const setup: Command[] = [
      { op: "queue_put", queue: "q", options: { maxDeliveries: 2, deadLetterQueue: "dlq" } },
      { op: "queue_put", queue: "dlq", options: {} },
      { op: "queue_put", queue: "r", options: { maxMessages: 40 } },
      { op: "topic_put", topic: "t", options: {} },
      { op: "subscription_put", topic: "t", subscription: "s", options: { filter: "a.*" } },
    ] as Command[];
    let index = 0;
    let ts = 1_000_000;
    let kept = 0;
    const apply = (proposals: Proposal[]) => {
      index++;
      ts += Math.floor(rand() * 4000);
      const run = proposals.map(packProposal);
      const stamp = { ts };
      const data = encodeEntry(stamp, run);
      const entry = ownEntry(stamp, run);
      if (entry !== undefined) {
        kept++;
        assert.deepStrictEqual(entry, decodeEntry(data), `seed ${seed} entry ${index}`);
        deepFreeze(entry);
      }
      const a = decoded.applyEntry(index, data);
      const b = own.applyEntry(index, data, entry);
      assert.deepStrictEqual(b, a, `seed ${seed} entry ${index}`);
      sameOrUnanswered(unanswered.applyEntry(index, data, undefined, false), a);
      gen.learn(index, proposals, a instanceof BatchResults ? a.results : [a]);
    };
    for (const cmd of setup) apply([{ cmd }]);
    for (let i = 0; i < 300; i++) {
      apply(Array.from({ length: rand() < 0.3 ? 1 : 2 + Math.floor(rand() * 8) }, gen.proposal));
      if (i % 60 === 0) {
        assert.deepStrictEqual(snapshotBytes(own), snapshotBytes(decoded), `seed ${seed} at ${i}`);
        assert.deepStrictEqual(snapshotBytes(unanswered), snapshotBytes(decoded), `at ${i}`);
      }
    }
    assert.deepStrictEqual(snapshotBytes(own), snapshotBytes(decoded), `seed ${seed}`);
    assert.deepStrictEqual(snapshotBytes(unanswered), snapshotBytes(decoded), `seed ${seed}`);
    assert.ok(unansweredSeen > 50, `seed ${seed}: ${unansweredSeen} unanswered`);
    unansweredSeen = 0;
    assert.ok(kept > 250, `seed ${seed}: kept ${kept}`);
  }
});
