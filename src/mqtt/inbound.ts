/**
 * A connection's PUBLISHes into the replicated log, in the order they arrived: consecutive
 * PUBLISHes of any QoS (those of one read, and those that arrive while the batch before is being
 * committed) go as one batch publish (one entry, so many in flight cost one commit),
 * each QoS 1 PUBACK and QoS 2 PUBREC after the batch is committed. A QoS 2 message is published
 * `once` in the slot of its packet id of the session's claim (replicated session state), so the
 * same PUBLISH sent again, to this node or any other, answers the first one and is not applied
 * twice; consecutive PUBRELs free their slots in one entry (after commit, PUBCOMP), and the packet
 * id may carry a new message.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { IConnectPacket, IPublishPacket, IPubrelPacket } from "mqtt-packet";
import { type ApiAnswer, MQTT_TOPIC, SizedBody } from "./broker_api.ts";
import { headersBeyondBounds, messageBytesAtMost, messageTo } from "./publish_message.ts";
import { willId, willMessage } from "./will.ts";
import { FROM_HEADER } from "./payload.ts";
import { readBatchAnswer } from "./batch_answer.ts";
import { topicToSubject } from "./topics.ts";
import { sessionKey } from "./session.ts";
import { PacketQueue } from "./packet_queue.ts";
import { ReadWait } from "./read_wait.ts";
import type { AckCmd, InboundHost } from "./inbound_host.ts";

export type { AckCmd, InboundHost } from "./inbound_host.ts";

/** Most messages in one batch publish (the API's bound). */
const BATCH_MAX = 1000;
/** The bytes of a batch publish's JSON around its messages: `{"messages":[` and `]}`. */
const BATCH_JSON_BYTES = 15;

/**
 * An acknowledgement to write, as one number (no object per answer): `(kind << 24) | (reason <<
 * 16) | packet id`, kind 0 PUBACK, 1 PUBREC, 2 PUBCOMP (`ACK_KINDS`).
 */
type Answer = number;
const ACK_KINDS: readonly AckCmd[] = ["puback", "pubrec", "pubcomp"];

/**
 * Consecutive PUBLISHes sent as one batch publish: their messages (none for a topic the token
 * may not publish to) and a bound on the bytes of the batch's JSON.
 */
interface Run {
  readonly packets: readonly IPublishPacket[];
  readonly messages: Record<string, unknown>[];
  readonly bytes: number;
}

/** What a topic name is to this connection: its subject (or why none) and whether it may publish. */
interface TopicFacts {
  readonly subject: string | undefined;
  readonly error: string | undefined;
  readonly allowed: boolean;
}

/**
 * The most batches whose last answer goes at once after waits for a read that did not come
 * (`#sendAnswers`: 1, 2, 4, ... after consecutive ones).
 */
const HOLDS_SKIPPED_MAX = 64;

/**
 * The most answers of a batch written one per read (`#sendAnswers`). Two, not four: each held
 * answer is a hand-off to the client and back, and with the late refill waited for
 * (`#awaitBulk`) two shortened the client's turn from 2.1 to 1.55 ms (p50, 5 + 5 runs under the
 * priority lock) with batches as large (docs/mqtt.md, session 13).
 */
const ANSWERS_HELD_MAX = 2;

/** The longest wait for a client's new packets after a batch's answers (`#sendAnswers`). */
const REFILL_WAIT_MAX_MS = 10;

/** Topics a connection keeps the facts of (most clients publish to a few topics, again and again). */
const TOPIC_CACHE_MAX = 1024;

export class Inbound {
  readonly #host: InboundHost;
  /** The session's claim: a QoS 2 message is published once per packet id, in its slot. */
  readonly #claim: string;
  /** False once the connection ended: its writes are not retried (`BrokerApi.write`). */
  readonly #live: () => boolean;
  readonly #queue = new PacketQueue();
  #pumping = false;
  /** A batch was refused: the connection is being closed, nothing more is sent or answered. */
  #stopped = false;
  /** The facts of the topics this connection published to (bounded: cleared when full). */
  readonly #topics = new Map<string, TopicFacts>();
  /** PUBLISHes whose properties the API would refuse: answered in their place, not sent. */
  readonly #beyond = new WeakMap<IPublishPacket, string>();
  /** The pump's waits for the next read (`#awaitRead`), a series sharing one timer. */
  readonly #waits = new ReadWait();
  /** Batches whose last answer goes at once, after a wait for a read that did not come. */
  #holdsSkipped = 0;
  /** The client answered the last batch's first answers at once (it keeps a window full). */
  #refills = false;
  /** How many holds are skipped after the next vain wait (0: the last wait saw a read). */
  #skipAfterMiss = 0;

  /** The message id of this connection's Last Will (`willId`). */
  readonly willId: string;

  constructor(host: InboundHost) {
    this.#host = host;
    this.#claim = sessionKey(host.owner);
    this.willId = willId(this.#claim);
    this.#live = () => host.live?.() ?? true;
  }

  /** Queues a PUBLISH; `flush` sends what is queued (the connection: after each read). */
  publish(p: IPublishPacket): void {
    this.#queue.push(p);
  }

  /** A promise while too many packets wait for their batch: no reads until it resolves. */
  backlog(): Promise<void> | undefined {
    return this.#queue.hold();
  }

  /** Queues a PUBREL; `flush` sends what is queued. */
  pubrel(p: IPubrelPacket): void {
    this.#queue.push(p);
  }

  /**
   * Sends what is queued, unless a run is being committed (what is queued then goes next).
   * Called once the packets of a read are queued, so PUBLISHes that arrived together go as one
   * batch, not the first alone and the rest a whole commit behind it.
   */
  flush(): void {
    this.#waits.read();
    this.#pump();
  }

  /**
   * In arrival order: the consecutive PUBLISHes (any QoS) as one batch entry, the consecutive
   * PUBRELs as one `claim_free`; one run at a time, while it is being committed the next one
   * gathers. (Several batches of a connection in flight, in order on the leader, were measured
   * slower on a quiet machine: docs/mqtt.md, Speed.)
   */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let i = 0; this.#queue.length > 0 && !this.#stopped && i < 1_000_000; i++) {
        const run = this.#queue.takeRun(BATCH_MAX);
        const kind = run[0].cmd;
        if (kind === "pubrel") await this.#release(run as IPubrelPacket[]);
        else if (await this.#batch(run as IPublishPacket[]) && this.#queue.length > 0) {
          await this.#awaitRead(undefined);
          this.#waits.end();
        }
      }
    } catch (e) {
      this.#stopped = true;
      this.#queue.end();
      this.#host.fail(0x80, `publish failed: ${e}`);
    } finally {
      this.#waits.end();
      this.#pumping = false;
    }
  }

  /**
   * Waits for what was sent to be written and then for the next read, or until `until`
   * (`performance.now()` time; undefined: one timer turn, ~1-2 ms on Deno) if none comes. A
   * client with Nagle's algorithm on (MQTT.js leaves it on) sends the first PUBLISH of a burst at
   * once and holds the rest until that one's TCP ACK, which rides on this node's next write; the
   * pump waits here so that they go in one batch, not the first alone and the rest a whole
   * commit later (docs/mqtt.md, Speed):
   * - after a batch's answers, with PUBLISHes already queued: the next batch also takes what
   *   these answers release (a connection's batches went 60, 1, 3 per 64 in flight);
   * - before each of a batch's last answers (`#sendAnswers`).
   */
  async #awaitRead(until: number | undefined): Promise<boolean> {
    await this.#host.written?.();
    if (this.#stopped) return false;
    return await this.#waits.wait(until);
  }

  /** Publishes this connection's Last Will (`willMessage`); a refusal is only logged. */
  async will(w: NonNullable<IConnectPacket["will"]>): Promise<ApiAnswer | string> {
    const m = willMessage(w, this.willId);
    return typeof m === "string" ? m : await this.#post(m);
  }

  /** The subject of `topic` and whether this connection may publish to it (kept per topic). */
  #topic(topic: string): TopicFacts {
    const known = this.#topics.get(topic);
    if (known !== undefined) return known;
    if (this.#topics.size >= TOPIC_CACHE_MAX) this.#topics.clear();
    const s = topicToSubject(topic);
    const facts = "error" in s
      ? { subject: undefined, error: s.error, allowed: this.#host.access.canPublish(topic) }
      : { subject: s.subject, error: undefined, allowed: this.#host.access.canPublish(topic) };
    this.#topics.set(topic, facts);
    return facts;
  }

  /**
   * A run of PUBLISHes as one batch publish, or as several in a row when its JSON would pass the
   * body limit (`#cut`); after each commit, its answers in order. True when it answered any (QoS
   * 1 or 2) and did not wait for the client's next packets after them.
   */
  async #batch(all: IPublishPacket[]): Promise<boolean> {
    const messages: Record<string, unknown>[] = [];
    let bytes = BATCH_JSON_BYTES;
    const from = this.#host.fromTag?.(); // the session's key while it has a No Local filter
    for (const p of all) {
      const t = this.#topic(p.topic);
      // Answered in its place (`#answerBatch`), never sent.
      if (!t.allowed) continue;
      if (t.subject === undefined) {
        this.#stopped = true;
        this.#queue.end();
        this.#host.fail(0x90, `topic ${JSON.stringify(p.topic)}: ${t.error}`);
        return false;
      }
      const message = messageTo(t.subject, p);
      // A v5 property past the API's bounds: this PUBLISH alone is refused (`#answerBatch`);
      // sent, it made the API refuse the whole batch and close the connection, again and again.
      const beyond = p.properties && headersBeyondBounds(message.headers as Record<string, string>);
      if (beyond) {
        this.#beyond.set(p, beyond);
        continue;
      }
      if (from !== undefined) (message.headers as Record<string, string>)[FROM_HEADER] = from;
      // QoS 2: once per packet id until PUBREL frees it, so the same PUBLISH sent again (after
      // a reconnect, to any node) answers the first one's seq and is not applied twice; and only
      // while this connection holds the session (`holder`): a late retry is refused.
      if (p.qos === 2) message.once = this.#once(p.messageId ?? 0);
      messages.push(message);
      bytes += messageBytesAtMost(message, p) + 1;
    }
    // Within the limit by its bound (small messages: nearly always), one request as it is.
    const runs = bytes <= this.#host.maxBodyBytes || messages.length < 2
      ? [{ packets: all, messages, bytes }]
      : this.#cut(all, messages);
    let answered = false;
    for (let r = 0; r < runs.length; r++) {
      const run = runs[r];
      // No key: a retry of this batch after an unknown outcome may repeat its QoS 0/1 messages
      // (at least once) but never its QoS 2 ones (their slots are held while this connection
      // holds the session, and once it does not, they are refused). Handed over as a value with
      // its bound.
      const posted = performance.now();
      const a = run.messages.length === 0
        ? undefined
        : await this.#post(new SizedBody({ messages: run.messages }, run.bytes), this.#live);
      const answers = this.#stopped ? undefined : this.#answerBatch(run.packets, a);
      if (answers === undefined) return false;
      if (r < runs.length - 1) {
        // The next run is here already: no wait for the client's next packets.
        for (const answer of answers) this.#answer(answer);
        answered ||= answers.length > 0;
      } else if (answers.length > 0) {
        return !await this.#sendAnswers(answers, performance.now() - posted);
      }
    }
    return answered;
  }

  /**
   * A run of PUBLISHes whose batch's bound passes the body limit, cut into consecutive runs each
   * within it by the exact bytes of its messages' JSON (the bound over-counts a string up to six
   * times: a batch of small messages past it is most often within the limit, and stays one).
   * Each run has a message; one message alone beyond the limit is a run of its own, which the
   * API refuses (413) as before.
   */
  #cut(all: IPublishPacket[], messages: Record<string, unknown>[]): Run[] {
    const limit = this.#host.maxBodyBytes;
    const runs: Run[] = [];
    let start = 0;
    let from = 0;
    let at = 0;
    let bytes = BATCH_JSON_BYTES;
    for (let i = 0; i < all.length; i++) {
      // The packets without a message (`#batch`): answered in the run they are in.
      if (!this.#topic(all[i].topic).allowed || this.#beyond.has(all[i])) continue;
      const size = Buffer.byteLength(JSON.stringify(messages[at]), "utf8") + 1;
      if (at > from && bytes + size > limit) {
        runs.push({ packets: all.slice(start, i), messages: messages.slice(from, at), bytes });
        start = i;
        from = at;
        bytes = BATCH_JSON_BYTES;
      }
      bytes += size;
      at++;
    }
    runs.push({ packets: all.slice(start), messages: messages.slice(from), bytes });
    return runs;
  }

  /**
   * Writes a batch's answers in order, the last few (`ANSWERS_HELD_MAX`) one per read, and, once
   * the client answered the first ones, waits until it has sent as many new packets as it got
   * answers, at most as long as the batch took to commit (`REFILL_WAIT_MAX_MS` at most): they
   * then go in one batch, and one commit is saved. A client with Nagle's algorithm on (MQTT.js)
   * sends the first new PUBLISH at once and holds the rest until that one's TCP ACK, which rides
   * on this node's next write: each held answer's write releases what the client wrote since
   * the one before (MQTT.js on Deno takes ~2-10 ms under load to answer a window's PUBACKs with
   * new PUBLISHes, handing them to its socket one by one). Before, one held answer and one
   * read's wait took the queued PUBLISHes and the one or two written by then, and the rest
   * waited a whole commit (a 64-message window went in batches of 63, then 1 or 2: two commits
   * per window). True when it waited.
   */
  async #sendAnswers(answers: Answer[], roundMs: number): Promise<boolean> {
    // The client may send as many new packets as it gets answers.
    const refilled = this.#queue.length + answers.length;
    let held = Math.max(0, Math.min(answers.length - 1, ANSWERS_HELD_MAX));
    if (held > 0 && this.#holdsSkipped > 0) {
      this.#holdsSkipped--;
      held = 0;
    }
    const first = answers.length - held;
    for (let i = 0; i < first; i++) this.#answer(answers[i]);
    if (held === 0) return false;
    // The first wait is one timer turn, unless the client answered the last batch's first
    // answers (it keeps a window full): a client that waits for all its answers sends nothing.
    // Once it answered, it is sending its next ones: the wait is longer from then on.
    const deadline = performance.now() + Math.min(roundMs, REFILL_WAIT_MAX_MS);
    let until = this.#refills ? deadline : undefined;
    let waiting = true;
    let answered = false;
    for (let i = first; i < answers.length && !this.#stopped; i++) {
      if (waiting && this.#queue.length < refilled) waiting = await this.#awaitRead(until);
      answered ||= waiting;
      until = deadline;
      if (!this.#stopped) this.#answer(answers[i]);
    }
    // What the last answer released (bounded: each turn takes a read or ends the wait).
    for (let i = 0; waiting && this.#queue.length < refilled && i < answers.length; i++) {
      waiting = await this.#awaitRead(until);
    }
    if (answered) await this.#awaitBulk(refilled, roundMs, answers.length);
    this.#waits.end();
    // No read after the first answers: a client that sends a burst and waits for all of it,
    // which the wait only delays, or one slow to answer. The next holds are skipped, twice as
    // many after each vain wait in a row, so a burst client rarely waits and a windowed one soon
    // holds again; not after a client that kept its window full was late once (its next
    // batch's first wait is one timer turn again).
    const refilling = this.#refills;
    this.#refills = answered;
    if (answered) this.#skipAfterMiss = 0;
    else if (!refilling) {
      this.#skipAfterMiss = Math.min(Math.max(1, this.#skipAfterMiss * 2), HOLDS_SKIPPED_MAX);
      this.#holdsSkipped = this.#skipAfterMiss;
    }
    return true;
  }

  /**
   * The refill wait ran out with less than half of the refill here, though the client had begun
   * sending it (it answered the first answers): it is late, not done, so the wait goes on, once
   * more as long, until half of it is here (a read brings the rest of it at once, released by the
   * last answers' writes). Posting the few here would cost a whole commit round and an entry on
   * every node for them alone, and the rest would arrive during that round and wait for it to end:
   * a window then took two rounds (traced at load 5-10: 10-15% of the batches were 1-4 PUBLISHes,
   * each followed by the other 57-62 of its window). Bounded by `reads` turns and the time.
   */
  async #awaitBulk(refilled: number, roundMs: number, reads: number): Promise<void> {
    if (this.#queue.length * 2 >= refilled) return;
    const until = performance.now() + Math.min(roundMs, REFILL_WAIT_MAX_MS);
    for (let i = 0; i < reads && !this.#stopped && this.#queue.length * 2 < refilled; i++) {
      if (!await this.#awaitRead(until)) return;
    }
  }

  /**
   * PUBACK / PUBREC for each PUBLISH of a batch, in order, from the batch's answer; undefined
   * when the batch was refused (the connection is closed).
   */
  #answerBatch(all: readonly IPublishPacket[], a: ApiAnswer | undefined): Answer[] | undefined {
    if (a !== undefined && a.status !== 201) {
      this.#refused(a);
      return undefined;
    }
    // Every message was published (`readBatchAnswer`): only their count was read.
    const published: number | undefined = a?.body?.published;
    if (published === undefined && a?.body?.results?.some(isMoved)) {
      this.#refused({ status: 409, body: { type: "session_moved" } });
      return undefined;
    }
    const answers: Answer[] = [];
    const denied: string[] = [];
    const full: string[] = [];
    let at = 0;
    for (const p of all) {
      let reason: number;
      if (!this.#topic(p.topic).allowed) {
        // A topic the token may not publish to: v5 answers 0x87, v3.1.1 (which has no negative
        // acknowledgement) answers as usual; the message is dropped either way.
        denied.push(p.topic);
        reason = this.#host.version === 5 ? 0x87 : 0;
      } else if (this.#beyond.has(p)) {
        // v5 only (v3.1.1 has no properties): 0x83, valid but not accepted (MQTT 5 3.4.2.1).
        this.#host.log("mqtt_publish_refused", { topic: p.topic, reason: this.#beyond.get(p) });
        reason = 0x83;
      } else {
        const r = published === undefined ? a!.body.results[at] : undefined;
        const ok = published !== undefined
          ? at < published
          : r !== undefined && r.seq !== undefined;
        at++;
        // Beyond the topic's retained bounds (replicated state): v5 says quota exceeded; v3.1.1
        // has no negative acknowledgement, so the message is acknowledged and dropped.
        const quota = !ok && r?.error?.type === "retained_full";
        if (quota) full.push(p.topic);
        reason = ok ? 0 : quota ? (this.#host.version === 5 ? 0x97 : 0) : 0x80;
      }
      if (p.qos === 0) continue;
      answers.push(((p.qos === 1 ? 0 : 1) << 24) | (reason << 16) | ((p.messageId ?? 0) & 0xffff));
    }
    if (denied.length > 0) this.#host.log("mqtt_publish_not_authorized", { topics: denied });
    if (full.length > 0) {
      this.#host.log("mqtt_publish_refused", { reason: "retained_full", topics: full });
    }
    return answers;
  }

  /** PUBRELs: their packet ids' slots are freed (after commit, PUBCOMP each). */
  async #release(run: IPubrelPacket[]): Promise<void> {
    const slots = [...new Set(run.map((p) => p.messageId ?? 0))];
    const path = `/v1/topics/${MQTT_TOPIC}/claims/${this.#claim}/free`;
    const body = { slots, ...holding(this.#host.holder) };
    const a = await this.#host.api.write("POST", path, body, {}, undefined, undefined, this.#live);
    if (a.status !== 200) return this.#refused(a);
    for (const p of run) this.#host.ack("pubcomp", p.messageId ?? 0, 0);
  }

  /** A QoS 2 message's `once`: its packet id's slot, fenced by this connection's holder. */
  #once(slot: number): Record<string, unknown> {
    return { claim: this.#claim, slot, ...holding(this.#host.holder) };
  }

  /** Publishes, retried while `live` (a will: after the connection ended too). */
  async #post(body: unknown, live?: () => boolean): Promise<ApiAnswer> {
    const path = `/v1/topics/${MQTT_TOPIC}/messages`;
    let a = await this.#host.api.write("POST", path, body, {}, undefined, readBatchAnswer, live);
    if (a.status === 404 && a.body?.type === "topic_not_found") {
      await this.#host.api.ensureTopic();
      a = await this.#host.api.write("POST", path, body, {}, undefined, readBatchAnswer, live);
    }
    return a;
  }

  /**
   * Closes the connection on a refused write. `session_moved`: another connection took the
   * session (the takeover closes this one as its node applies the take; the answer may come
   * first): nothing of the write was applied, and nothing is answered (0x8E, taken over).
   */
  #refused(a: ApiAnswer): void {
    this.#stopped = true;
    this.#queue.end();
    const reason = a.body?.type === "session_moved"
      ? 0x8e
      : a.status === 401 || a.status === 403
      ? 0x87
      : a.status === 413
      ? 0x95
      : 0x80;
    this.#host.fail(reason, `the broker answered ${a.status} ${a.body?.detail ?? ""}`);
  }

  /** Writes one answer (`Answer`); v3.1.1 acknowledgements carry no reason code. */
  #answer(a: Answer): void {
    const reason = this.#host.version === 5 ? (a >>> 16) & 0xff : 0;
    this.#host.ack(ACK_KINDS[a >>> 24], a & 0xffff, reason);
  }
}

/** A batch publish's result refused because the session moved (`#answerBatch`). */
function isMoved(r: { error?: { type?: string } } | undefined): boolean {
  return r?.error?.type === "session_moved";
}

/** `{ holder }` for a claim write or `once` when the connection has one, else nothing. */
export function holding(holder: string | undefined): { holder?: string } {
  return holder === undefined ? {} : { holder };
}
