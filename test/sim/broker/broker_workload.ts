/**
 * The broker workload for the simulator: producers that publish with ids, consumers that
 * receive, ack, nack or let leases lapse, and transactions (ack + publish), all in one client
 * session: every operation gets a sequence number once and every retry of an unknown outcome
 * (across leader changes and snapshot restores) sends the same one, with the lowest number still
 * unanswered. Every answer the client gets is recorded with its log index, and the checks at
 * the end hold the broker to the promises (and `SessionLedger` counts, per (session, seq), the
 * log entries that applied it: more than one is a violation):
 * no acknowledged publish lost, no message enqueued twice, exactly one `acked` per id in
 * exactly_once, fifo order per group, and no delivery after an `acked`. Topic publishes carry
 * subjects and headers; each filtered subscription must get exactly the ones it matches.
 *
 * @module
 */

import type { NodeId } from "../../../cluster/raft/mod.ts";
import {
  type Command,
  type Delivery,
  packProposal,
  type ReceiptResult,
  type Result,
  splitRuns,
} from "../../../src/broker/mod.ts";
import { type BrokerSimApp, resultAt } from "./broker_app.ts";
import type { Prng } from "../prng.ts";
import { LeaderGuess } from "../leader_guess.ts";
import type { SimNode } from "../core/sim_node.ts";

/**
 * Headers of every fifth queue publish (no random draw, so a seed's schedule is unchanged): the
 * strings where msgpack readers part ways, as the API allows them (names up to 256 characters):
 * a name of 32+ bytes (a str8 key), another of 256+ bytes (str16), values led by U+FEFF past 64
 * bytes, non-ASCII, and an empty one. Every replica must store them as the leader applied them.
 */
export function oddHeaders(logical: string): Record<string, string> {
  return {
    ["x-a-header-name-of-forty-characters-long"]: "\uFEFF" + logical.padEnd(80, "."),
    ["\u00e9".repeat(130)]: "\u00e9t\u00e9 \u{1F600} " + logical,
    short: "\uFEFF" + logical,
    empty: "",
  };
}

/** The queues of the workload. `dead` is the dead-letter queue of the others. */
export const SETUP: readonly Command[] = [
  { op: "queue_put", queue: "dead", options: { dedupWindowMs: 3_600_000 } },
  {
    op: "queue_put",
    queue: "jobs",
    options: { leaseMs: 300, maxDeliveries: 4, deadLetterQueue: "dead", dedupWindowMs: 3_600_000 },
  },
  {
    op: "queue_put",
    queue: "eo",
    options: { deliveryMode: "exactly_once", leaseMs: 300, dedupWindowMs: 3_600_000 },
  },
  {
    op: "queue_put",
    queue: "fifo",
    options: { fifo: true, leaseMs: 300, dedupWindowMs: 3_600_000 },
  },
  { op: "queue_put", queue: "out", options: { dedupWindowMs: 3_600_000 } },
  // Interest retention: the log keeps what a subscription holds (replicas and restores agree).
  { op: "topic_put", topic: "ev", options: { dedupWindowMs: 3_600_000, retention: "interest" } },
  ...Object.entries({
    sa: { filter: "ev.a.*" },
    sb: { filters: ["ev.b.>", "ev.a.x"] },
    sh: { headers: { h: "1" } },
  }).map(([subscription, routing]): Command => ({
    op: "subscription_put",
    topic: "ev",
    subscription,
    options: { ...routing, leaseMs: 300, dedupWindowMs: 3_600_000 },
  })),
  { op: "session_open", timeoutMs: 86_400_000 },
];

export const QUEUES = ["jobs", "eo", "fifo", "out", "dead"] as const;

/** Subjects of topic publishes, and which of them each subscription of `ev` must get. */
const SUBJECTS = ["ev.a.x", "ev.a.y", "ev.b.x.y", "ev.c"] as const;
export const ROUTES: Readonly<Record<string, (subject: string, h: boolean) => boolean>> = {
  "ev/sa": (s) => s === "ev.a.x" || s === "ev.a.y",
  "ev/sb": (s) => s === "ev.b.x.y" || s === "ev.a.x",
  "ev/sh": (_s, h) => h,
};
/** Where consumers receive: the queues and the topic's subscriptions (`topic/subscription`). */
const SOURCES = [...QUEUES, ...Object.keys(ROUTES)];

/** The receive or settle command of a queue or a `topic/subscription` source. */
function sourceCommand(
  source: string,
  op: "receive" | "ack" | "nack",
  arg: number | string[],
): Command {
  const [topic, subscription] = source.split("/");
  if (subscription === undefined) {
    return op === "receive"
      ? { op, queue: source, max: arg as number }
      : { op, queue: source, receipts: arg as string[] };
  }
  return op === "receive"
    ? { op: "subscription_receive", topic, subscription, max: arg as number }
    : { op: `subscription_${op}`, topic, subscription, receipts: arg as string[] };
}

/** Deliberate client bugs, to prove the checks catch them. */
export interface ClientFaults {
  /** Retry a publish whose outcome is unknown as a new call without its id (Jepsen's classic
   * duplicate): neither its session seq nor its id can tell the broker it is a retry. */
  readonly retryPublishWithoutId?: boolean;
}

interface Op {
  readonly kind: "setup" | "publish" | "receive" | "settle" | "tx";
  readonly cmd: Command;
  /** The op's number in the client's session (every op but the setup). */
  seq?: number;
  /** The logical message id (the body) of a publish. */
  readonly logical?: string;
  retries: number;
}

interface Attempt {
  readonly op: Op;
  readonly node: NodeId;
  readonly incarnation: number;
  readonly index: number;
  /** The op's place in its entry (0 unless the entry is a batch). */
  readonly pos: number;
  readonly term: number;
  readonly step: number;
}

/** One delivery the client saw, with the log place of the receive that made it. */
export interface Seen {
  readonly queue: string;
  /** The receive's log index, plus its place in a batch entry / 1024 (`placeOf`): in log order. */
  readonly index: number;
  readonly d: Delivery;
  readonly logical: string;
}

/** A command's place in the log: its entry's index, plus its place in a batch entry / 1024. */
function placeOf(index: number, pos: number): number {
  return index + pos / 1024;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The simulated producers and consumers. */
export class BrokerClient {
  readonly stats = {
    proposed: 0,
    committed: 0,
    unknown: 0,
    replaced: 0,
    notLeader: 0,
    /** Answers that came from the session's stored answers (a retry of an applied write). */
    replayed: 0,
    /** Ops proposed inside batch entries (of two or more). */
    batched: 0,
  };
  /** Publishes answered ok: logical id -> queue and seq. */
  readonly acknowledged = new Map<string, { queue: string; seq: number }>();
  /** Topic publishes: logical id -> its subject and whether it had header h=1. */
  readonly routed = new Map<string, { subject: string; h: boolean }>();
  readonly seen: Seen[] = [];
  /** Every ack status the client was answered, with the index and the message. */
  readonly ackAnswers: {
    queue: string;
    index: number;
    seq: number;
    logical: string;
    status: string;
  }[] = [];
  readonly #queue: Op[] = [];
  readonly #attempts: Attempt[] = [];
  /** Deliveries held by consumers, waiting to be settled. */
  readonly #held: Seen[] = [];
  #next = 1;
  readonly #leader = new LeaderGuess();
  setupDone = 0;
  /** The client's session, once `session_open` answered. */
  session: number | undefined;
  #nextSeq = 1;

  constructor(readonly prng: Prng, readonly faults: ClientFaults = {}) {
    for (const cmd of SETUP) this.#queue.push({ kind: "setup", cmd, retries: 0 });
  }

  /** Nothing waits for an answer or a retry. */
  idle(): boolean {
    return this.#queue.length === 0 && this.#attempts.length === 0;
  }

  /** Adds new work (with probability `rate`) and proposes the next waiting operation. */
  act(step: number, nodes: ReadonlyMap<NodeId, SimNode>, rate: number): void {
    if (this.setupDone >= SETUP.length && this.prng.chance(rate)) this.#newWork();
    for (let i = 0; i < 2 && this.#queue.length > 0; i++) this.#proposeNext(step, nodes);
  }

  /**
   * Proposes the waiting ops at the head of the queue to one node, half the time up to 4 of
   * them at once: as the leader's batcher does (src/server/proposal_batcher.ts), packed one by
   * one, split into runs by `splitRuns` (a `session_open` goes alone) and stamped once per entry,
   * so batch entries and single envelopes mix in the log.
   */
  #proposeNext(step: number, nodes: ReadonlyMap<NodeId, SimNode>): void {
    if (this.#queue.length === 0) return;
    const target = this.#leader.pick(nodes, this.prng);
    if (target === undefined) return;
    // Stamped as a real node stamps what it proposes: by its own entry clock.
    const clock = (target.app as BrokerSimApp).clock;
    if (clock === undefined) throw new Error("BrokerClient needs apps built with clocks");
    const n = this.prng.chance(0.5) ? this.prng.range(2, 4) : 1;
    const ops = this.#queue.slice(0, n);
    const packed = ops.map((op) => {
      if (op.kind !== "setup" && op.seq === undefined) op.seq = this.#nextSeq++;
      const proposal = op.seq === undefined || this.session === undefined
        ? { cmd: op.cmd }
        : { cmd: op.cmd, session: { id: this.session, seq: op.seq, lowest: this.#lowest(op.seq) } };
      return { op, ...packProposal(proposal) };
    });
    for (const run of splitRuns(packed)) {
      // Encoded by the target's app, which then applies it from the proposals themselves.
      const r = target.raw.propose((target.app as BrokerSimApp).propose(clock.stampNow(), run));
      if (!r.ok) {
        if (r.reason === "not_leader") {
          this.stats.notLeader++;
          this.#leader.id = r.leaderId;
        }
        return;
      }
      if (run.length > 1) this.stats.batched += run.length;
      run.forEach(({ op }, pos) => {
        this.#queue.shift();
        this.stats.proposed++;
        this.#attempts.push({
          op,
          node: target.id,
          incarnation: target.incarnation,
          ...r,
          pos,
          step,
        });
      });
    }
  }

  /** The lowest seq whose answer has not arrived: of the ops waiting or in flight. */
  #lowest(seq: number): number {
    let low = seq;
    for (const op of this.#queue) if (op.seq !== undefined && op.seq < low) low = op.seq;
    for (const a of this.#attempts) if (a.op.seq !== undefined && a.op.seq < low) low = a.op.seq;
    return low;
  }

  /** Queues a final drain of every queue: receive and ack until the broker is empty. */
  drain(): void {
    for (const source of SOURCES) {
      this.#queue.push({ kind: "receive", cmd: sourceCommand(source, "receive", 50), retries: 0 });
    }
    this.#settleHeld(1);
  }

  #newWork(): void {
    const roll = this.prng.next();
    if (roll < 0.35) this.#publish();
    else if (roll < 0.45) this.#publishTopic();
    else if (roll < 0.7) {
      const source = this.prng.pick(SOURCES);
      const cmd = sourceCommand(source, "receive", this.prng.range(1, 3));
      this.#queue.push({ kind: "receive", cmd, retries: 0 });
    } else if (roll < 0.9) this.#settleHeld(0.3);
    else this.#transaction();
  }

  #publish(): void {
    const n = this.#next++;
    const logical = `p${n}`;
    const queue = this.prng.pick(["jobs", "eo", "fifo"]);
    const message = {
      body: encoder.encode(logical),
      id: logical,
      ...(queue === "fifo" ? { group: `g${this.prng.int(3)}` } : {}),
      ...(n % 5 === 0 ? { headers: oddHeaders(logical) } : {}),
    };
    this.#queue.push({
      kind: "publish",
      cmd: { op: "publish", queue, message },
      logical,
      retries: 0,
    });
  }

  /** A topic publish with a subject and, half the time, the header `h: 1`. */
  #publishTopic(): void {
    const logical = `e${this.#next++}`;
    const subject = this.prng.pick(SUBJECTS);
    const h = this.prng.chance(0.5);
    this.routed.set(logical, { subject, h });
    const message = {
      body: encoder.encode(logical),
      id: logical,
      subject,
      ...(h ? { headers: { h: "1" } } : {}),
    };
    const cmd: Command = { op: "topic_publish", topic: "ev", message };
    this.#queue.push({ kind: "publish", cmd, logical, retries: 0 });
  }

  /** Settles held deliveries: most are acked, some nacked, some left to lapse. One command
   * per queue and kind, so a drain settles everything before the leases end. */
  #settleHeld(fraction: number): void {
    const n = Math.max(1, Math.ceil(this.#held.length * fraction));
    const batches = new Map<string, string[]>();
    for (const s of this.#held.splice(0, n)) {
      const roll = fraction >= 1 ? 0 : this.prng.next();
      if (roll > 0.9) continue; // abandoned: its lease ends and it is redelivered
      const key = `${roll > 0.8 ? "nack" : "ack"} ${s.queue}`;
      batches.set(key, [...batches.get(key) ?? [], s.d.receipt]);
    }
    for (const [key, receipts] of batches) {
      const [op, source] = key.split(" ") as ["ack" | "nack", string];
      this.#queue.push({ kind: "settle", cmd: sourceCommand(source, op, receipts), retries: 0 });
    }
  }

  /** Acks a held exactly_once delivery and publishes its result to `out`, atomically. */
  #transaction(): void {
    const i = this.#held.findIndex((s) => s.queue === "eo");
    if (i < 0) return;
    const [s] = this.#held.splice(i, 1);
    const logical = `t-${s.logical}`;
    const cmd: Command = {
      op: "transaction",
      ack: [{ queue: "eo", receipt: s.d.receipt }],
      publish: [{ queue: "out", body: encoder.encode(logical), id: logical }],
    };
    this.#queue.push({ kind: "tx", cmd, logical, retries: 0 });
  }

  /** Learns the outcome of attempts from the nodes they were proposed to. */
  observe(step: number, nodes: ReadonlyMap<NodeId, SimNode>): void {
    for (let i = this.#attempts.length - 1; i >= 0; i--) {
      const a = this.#attempts[i];
      const n = nodes.get(a.node);
      const app = n?.app as BrokerSimApp | undefined;
      const rec = n?.up && n.incarnation === a.incarnation ? app?.results.get(a.index) : undefined;
      if (rec !== undefined && rec.term === a.term) {
        this.#attempts.splice(i, 1);
        this.stats.committed++;
        this.#onResult(a.op, placeOf(a.index, a.pos), resultAt(rec, a.pos)!);
        continue;
      }
      const gone = n === undefined || !n.up || n.incarnation !== a.incarnation ||
        step - a.step > 80 || rec !== undefined ||
        (app !== undefined && app.broker.lastIndex >= a.index);
      if (!gone) continue;
      this.#attempts.splice(i, 1);
      if (rec !== undefined) this.stats.replaced++;
      else this.stats.unknown++;
      this.#retry(a.op);
    }
  }

  /** An unknown outcome: the op goes again under the same seq (receives too: the session makes
   * a retried receive answer the deliveries it made, instead of leasing more). */
  #retry(op: Op): void {
    op.retries++;
    if (op.kind === "publish" && this.faults.retryPublishWithoutId && op.cmd.op === "publish") {
      // The classic bug: the retry is a new call (a new seq in the session) and a new message.
      const { id: _id, ...message } = op.cmd.message;
      this.#queue.push({ ...op, seq: undefined, cmd: { ...op.cmd, message } });
      return;
    }
    this.#queue.push(op);
  }

  #onResult(op: Op, index: number, r: Result): void {
    if (op.kind === "setup") {
      // A retried topic_put can commit after its subscription_put (topic_not_found): again.
      if (!r.ok) {
        this.#queue.push(op);
        return;
      }
      this.setupDone++;
      if ("session" in r) this.session = r.session;
      return;
    }
    if (r.replayed) this.stats.replayed++;
    if (!r.ok) return; // refusals (a tx whose receipt went stale) are expected values
    // A replay is the stored answer of an earlier attempt whose outcome the client never
    // learned: each op is answered once (an attempt is dropped before it is retried), so it
    // counts like a first answer.
    const cmd = op.cmd;
    if (cmd.op === "publish" && "seq" in r) {
      this.acknowledged.set(op.logical!, { queue: cmd.queue, seq: r.seq });
    } else if (cmd.op === "topic_publish" && "seq" in r) {
      this.acknowledged.set(op.logical!, { queue: cmd.topic, seq: r.seq });
    } else if ((cmd.op === "receive" || cmd.op === "subscription_receive") && "messages" in r) {
      const source = cmd.op === "receive" ? cmd.queue : `${cmd.topic}/${cmd.subscription}`;
      for (const d of r.messages) {
        const s = { queue: source, index, d, logical: decoder.decode(d.body) };
        this.seen.push(s);
        this.#held.push(s);
      }
    } else if (cmd.op === "ack" && "results" in r) {
      this.#recordAcks(cmd.queue, index, r.results as readonly ReceiptResult[]);
    } else if (cmd.op === "subscription_ack" && "results" in r) {
      const source = `${cmd.topic}/${cmd.subscription}`;
      this.#recordAcks(source, index, r.results as readonly ReceiptResult[]);
    } else if (cmd.op === "transaction" && "publish" in r) {
      this.#recordAcks("eo", index, r.ack);
      const p = r.publish[0];
      if (p.ok) this.acknowledged.set(op.logical!, { queue: "out", seq: p.seq });
    }
  }

  #recordAcks(queue: string, index: number, results: readonly ReceiptResult[]): void {
    for (const x of results) {
      const s = this.seen.find((v) => v.queue === queue && v.d.receipt === x.receipt);
      if (s === undefined) continue;
      this.ackAnswers.push({ queue, index, seq: s.d.seq, logical: s.logical, status: x.status });
    }
  }
}
