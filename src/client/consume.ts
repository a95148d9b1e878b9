/**
 * The consumer loop: long-polls `receive`, runs a handler per message with at most
 * `concurrency` in flight, extends each lease at about `leaseMs / 2` while its handler runs,
 * acks on success and nacks with an exponential backoff delay on failure. Abort stops polling,
 * lets in-flight handlers finish (their `signal` is aborted) for up to `drainMs`, acks or nacks
 * them, nacks the ones still running after that, and resolves with the counters.
 *
 * @module
 */

import type { Client } from "./client.ts";
import {
  AnonymousRefused,
  Forbidden,
  InvalidRequest,
  NotFound,
  QueueNotFound,
  SubscriptionNotFound,
  TopicNotFound,
  Unauthorized,
} from "./errors.ts";
import { sleep } from "./transport.ts";
import type { ReceivedMessage, SettleResult, Source } from "./types.ts";
import { AckBatcher } from "./ack_batch.ts";
import { PushReceiver } from "./push.ts";
import { sourcePath } from "./_shared.ts";
import { adaptivePrefetch, maxSettling } from "./consume_window.ts";
import { LeaseContext } from "./lease_context.ts";

export {
  adaptivePrefetch,
  maxSettling,
  PREFETCH_ADAPTIVE_BYTES,
  PREFETCH_ADAPTIVE_MAX,
} from "./consume_window.ts";
/** What a handler gets beside the message. */
export interface ConsumeContext {
  /** Aborted when the consumer stops or the lease was lost (another consumer may have it). */
  signal: AbortSignal;
}

/** Handles one message; a throw (or rejection) nacks it. */
export type ConsumeHandler = (message: ReceivedMessage, context: ConsumeContext) => unknown;

/** Options of `consume` and `consumeExactlyOnce`. */
export interface ConsumeOptions {
  /** Handlers running at once. Default 1. */
  concurrency?: number;
  /** The lease asked for on receive and on each extension. Default 30 000. */
  leaseMs?: number;
  /** Long-poll wait of each receive. Default 20 000. */
  waitMs?: number;
  /**
   * On the stream: deliveries granted ahead of the handlers (credit). More keeps fast handlers
   * busy (the next messages are on their way while these run: one round trip per `prefetch`
   * messages, not per `concurrency`), but a prefetched message's lease runs while it waits for a
   * handler: keep `prefetch / concurrency × handler time` well under `leaseMs`. Default: adaptive,
   * `concurrency` at first, then as many as the handlers get through in a tenth of the lease at
   * the handler time measured so far (the larger of its running mean and the last one), and no
   * more than 1 MiB of messages at the mean size pushed so far, between `concurrency` and 1000.
   */
  prefetch?: number;
  /** Abort to stop. */
  signal?: AbortSignal;
  /** The first nack delay (doubled per attempt). Default 1 000. */
  baseBackoffMs?: number;
  /** The largest nack delay, and the largest pause after a failed receive. Default 60 000. */
  maxBackoffMs?: number;
  /** Stop (cleanly) after this many messages were received. Default: never. */
  maxMessages?: number;
  /** After a stop, how long in-flight handlers may run before they are nacked. Default leaseMs. */
  drainMs?: number;
  /** Sees every error that the loop survives (receive, ack, nack, extend, handler). */
  onError?: (error: unknown, message?: ReceivedMessage) => void;
}

/** Counters of one consumer run. */
export interface ConsumeStats {
  received: number;
  acked: number;
  nacked: number;
  /** The lease was over before the ack: another consumer got the message; it was not acked here. */
  lost: number;
  /** Errors the loop survived (receive, ack, nack, extend failures after retries). */
  errors: number;
}

/** What settling a successful message gave. */
export type SuccessOutcome = "acked" | "lost";

/** Settles a message whose handler succeeded (the plain form acks; exactly-once commits a transaction). */
export type SuccessSettler = (message: ReceivedMessage, result: unknown) => Promise<SuccessOutcome>;

/** Errors that no retry can fix: the loop stops and `consume` rejects with them. */
const FATAL = [
  QueueNotFound,
  TopicNotFound,
  SubscriptionNotFound,
  NotFound,
  Unauthorized,
  Forbidden,
  AnonymousRefused,
  InvalidRequest,
];

const LOST_STATUSES = new Set(["stale", "not_found"]);

/** Runs `handler` per message of `source` until stopped; see the module doc. */
export function consume(
  client: Client,
  source: Source,
  handler: ConsumeHandler,
  options: ConsumeOptions = {},
): Promise<ConsumeStats> {
  // Acks go in batches: one request for every ack that waited while the last one was sent.
  const acks = new AckBatcher((receipts) => client.ack(source, receipts));
  const settler: SuccessSettler = async (message) => {
    const result = await acks.ack(message.receipt);
    return settledLost(result) ? "lost" : "acked";
  };
  return runConsumer(client, source, handler, settler, options);
}

/** True when a settle result says the lease was over (the message is someone else's now). */
export function settledLost(result: SettleResult | undefined): boolean {
  return result !== undefined && LOST_STATUSES.has(result.status);
}

/** The loop shared by `consume` and `consumeExactlyOnce`. */
export async function runConsumer(
  client: Client,
  source: Source,
  handler: ConsumeHandler,
  onSuccess: SuccessSettler,
  options: ConsumeOptions = {},
): Promise<ConsumeStats> {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const stop = new AbortController();
  const onStop = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) onStop();
  options.signal?.addEventListener("abort", onStop, { once: true });
  const run = new Run(client, source, handler, onSuccess, options, stop.signal);
  const push = pushReceiver(client, source, run.leaseMs);
  let fatal: unknown = undefined;
  let failures = 0;
  try {
    while (!stop.signal.aborted && run.wantsMore()) {
      if (run.running >= concurrency || run.settling() >= maxSettling(push?.messageBytes)) {
        await run.changed();
        continue;
      }
      try {
        const max = run.budget(concurrency - run.running);
        const messages = push !== undefined
          ? await push.receive({
            max,
            credit: run.credit(concurrency, push.messageBytes),
            signal: stop.signal,
          })
          : await client.receive(source, {
            max,
            waitMs: run.waitMs,
            leaseMs: run.leaseMs,
            signal: stop.signal,
          });
        failures = 0;
        for (const message of messages) run.start(message);
      } catch (error) {
        if (stop.signal.aborted) break;
        if (FATAL.some((Class) => error instanceof Class)) {
          fatal = error;
          break;
        }
        run.report(error);
        await sleep(run.backoffMs(++failures), stop.signal).catch(() => {});
      }
    }
  } finally {
    options.signal?.removeEventListener("abort", onStop);
    // Pushed but never handed to a handler: release them now rather than at their lease's end.
    await run.release(push?.close() ?? []);
    await run.drain();
  }
  if (fatal !== undefined) throw fatal;
  return run.stats;
}

/** On the stream, deliveries are pushed (no polling); over HTTP, `undefined`: long polls. */
function pushReceiver(client: Client, source: Source, leaseMs: number): PushReceiver | undefined {
  const streams = client.transport.streams;
  if (streams === undefined) return undefined;
  return new PushReceiver(
    streams,
    client.transport.nodes,
    `${sourcePath(source)}/receive`,
    leaseMs,
  );
}

/** A message whose handler runs: its lease signal and when its lease is extended next. */
interface Held {
  readonly message: ReceivedMessage;
  readonly lease: LeaseContext;
  dueAt: number;
}

/** The state of one consumer run: in-flight handlers and counters. */
class Run {
  readonly stats: ConsumeStats = { received: 0, acked: 0, nacked: 0, lost: 0, errors: 0 };
  /** Handlers running: a slot is free again once its handler is done, before the settle. */
  running = 0;
  /** Every message not settled yet (handler running, or its ack or nack on its way). */
  readonly tasks = new Set<Promise<void>>();
  /** Wakes the loop's `changed()` wait: a handler or a settle is done. */
  #onChange: (() => void) | undefined;
  /**
   * Messages whose handler runs, in the order their next lease extension is due (one timer and
   * one abort listener for all of them: per message, a listener on the shared stop signal cost
   * time in the number of listeners, and an interval timer each was most of the client's CPU).
   */
  readonly #held = new Set<Held>();
  #extendTimer: ReturnType<typeof setTimeout> | undefined;
  readonly leaseMs: number;
  readonly waitMs: number;
  /** Handlers given up on after the drain time: their late success must not be acked. */
  readonly #abandoned = new Set<string>();
  /** Handler time so far (ms): running mean and the last one; undefined before the first. */
  #handlerMeanMs: number | undefined;
  #handlerLastMs = 0;
  readonly #nackNow = new Map<string, ReceivedMessage>();

  constructor(
    private readonly client: Client,
    private readonly source: Source,
    private readonly handler: ConsumeHandler,
    private readonly onSuccess: SuccessSettler,
    private readonly options: ConsumeOptions,
    private readonly stopped: AbortSignal,
  ) {
    this.leaseMs = options.leaseMs ?? 30_000;
    this.waitMs = options.waitMs ?? 20_000;
    stopped.addEventListener("abort", () => {
      for (const h of this.#held) h.lease.abort(stopped.reason);
    }, { once: true });
  }

  /** Resolves once a handler or a settle is done (a slot or a settle place may be free). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#onChange = resolve);
  }

  #changed(): void {
    const wake = this.#onChange;
    this.#onChange = undefined;
    wake?.();
  }

  wantsMore(): boolean {
    return this.options.maxMessages === undefined || this.stats.received < this.options.maxMessages;
  }

  /**
   * Deliveries to keep granted on the stream: `prefetch` (default `concurrency`), never more than
   * `maxMessages` leaves room for.
   */
  credit(concurrency: number, messageBytes?: number): number {
    const want = Math.max(
      1,
      this.options.prefetch ?? this.#adaptivePrefetch(concurrency, messageBytes),
    );
    if (this.options.maxMessages === undefined) return want;
    return Math.max(1, Math.min(want, this.options.maxMessages - this.stats.received));
  }

  #adaptivePrefetch(concurrency: number, messageBytes: number | undefined): number {
    if (this.#handlerMeanMs === undefined) return concurrency;
    const handlerMs = Math.max(this.#handlerMeanMs, this.#handlerLastMs);
    return adaptivePrefetch(concurrency, this.leaseMs, handlerMs, messageBytes);
  }

  #timeHandler(ms: number): void {
    this.#handlerLastMs = ms;
    this.#handlerMeanMs = this.#handlerMeanMs === undefined
      ? ms
      : this.#handlerMeanMs * 0.9 + ms * 0.1;
  }

  budget(free: number): number {
    const left = this.options.maxMessages === undefined
      ? free
      : this.options.maxMessages - this.stats.received;
    return Math.max(1, Math.min(free, left, 1000));
  }

  backoffMs(attempt: number): number {
    const stepMs = Math.min(
      this.options.maxBackoffMs ?? 60_000,
      (this.options.baseBackoffMs ?? 1_000) * 2 ** (attempt - 1),
    );
    // Whole milliseconds: the server's `delayMs` is an integer, and a fraction made every nack
    // of a failed message a 400 (the message then sat out its whole lease).
    return Math.round(stepMs / 2 + Math.random() * (stepMs / 2));
  }

  report(error: unknown, message?: ReceivedMessage): void {
    this.stats.errors++;
    this.options.onError?.(error, message);
  }

  /** Messages being settled after their handler finished. */
  settling(): number {
    return this.tasks.size - this.running;
  }

  start(message: ReceivedMessage): void {
    this.stats.received++;
    this.#nackNow.set(message.receipt, message);
    this.running++;
    let freed = false;
    const free = () => {
      if (freed) return;
      freed = true;
      this.running--;
      this.#changed();
    };
    const task: Promise<void> = this.#handle(message, free).finally(() => {
      free();
      this.tasks.delete(task);
      this.#nackNow.delete(message.receipt);
      this.#changed();
    });
    this.tasks.add(task);
  }

  /**
   * Nacks messages received but never handled (delay 0: deliverable again now), 1000 receipts a
   * request: a stopped stream consumer holds up to its prefetch (one nack each was ~450
   * requests at the end of a run stopped by its signal).
   */
  async release(messages: readonly ReceivedMessage[]): Promise<void> {
    this.stats.received += messages.length;
    const parts: ReceivedMessage[][] = [];
    for (let at = 0; at < messages.length; at += 1000) parts.push(messages.slice(at, at + 1000));
    await Promise.all(parts.map((part) => this.#nack(part, 0)));
  }

  async #handle(message: ReceivedMessage, handlerDone: () => void): Promise<void> {
    const lease = new LeaseContext();
    if (this.stopped.aborted) lease.abort(this.stopped.reason);
    const started = performance.now();
    const held: Held = { message, lease, dueAt: started + this.#extendEveryMs() };
    this.#hold(held);
    try {
      let result: unknown;
      try {
        result = await this.handler(message, lease);
      } catch (error) {
        this.#timeHandler(performance.now() - started);
        handlerDone();
        if (this.#abandoned.has(message.receipt)) return;
        this.options.onError?.(error, message);
        await this.#nack(message, this.stopped.aborted ? 0 : this.backoffMs(message.attempt));
        return;
      }
      this.#timeHandler(performance.now() - started);
      handlerDone();
      if (this.#abandoned.has(message.receipt)) return;
      await this.#settleSuccess(message, result);
    } finally {
      this.#release(held);
    }
  }

  async #settleSuccess(message: ReceivedMessage, result: unknown): Promise<void> {
    try {
      const outcome = await this.onSuccess(message, result);
      if (outcome === "acked") this.stats.acked++;
      else this.stats.lost++;
    } catch (error) {
      // A failed settle after retries: the lease runs out and the message comes back.
      this.report(error, message);
      await this.#nack(message, this.stopped.aborted ? 0 : this.backoffMs(message.attempt));
    }
  }

  /** A lease is extended at half its length so that a slow handler keeps it. */
  #extendEveryMs(): number {
    return Math.max(1, Math.floor(this.leaseMs / 2));
  }

  #hold(held: Held): void {
    this.#held.add(held);
    this.#armExtendTimer();
  }

  #release(held: Held): void {
    this.#held.delete(held);
    if (this.#held.size === 0 && this.#extendTimer !== undefined) {
      clearTimeout(this.#extendTimer);
      this.#extendTimer = undefined;
    }
  }

  /** One timer, for the first extension due (the set is in due order: each goes to its end). */
  #armExtendTimer(): void {
    if (this.#extendTimer !== undefined) return;
    const first = this.#held.values().next();
    if (first.done) return;
    const inMs = Math.max(0, first.value.dueAt - performance.now());
    this.#extendTimer = setTimeout(() => {
      this.#extendTimer = undefined;
      this.#extendDue();
      this.#armExtendTimer();
    }, inMs);
  }

  #extendDue(): void {
    const now = performance.now();
    const due: Held[] = [];
    for (const h of this.#held) {
      if (h.dueAt > now) break;
      due.push(h);
    }
    for (const h of due) {
      this.#held.delete(h);
      h.dueAt = now + this.#extendEveryMs();
      this.#held.add(h);
      void this.#extend(h);
    }
  }

  async #extend(held: Held): Promise<void> {
    const { message, lease } = held;
    try {
      const [result] = await this.client.extend(this.source, message.receipt, this.leaseMs);
      if (settledLost(result) || result?.status === "already_acked") {
        this.#release(held);
        lease.abort(new Error(`Lease of message ${message.id} was lost (${result?.status})`));
      }
    } catch (error) {
      this.report(error, message);
    }
  }

  /** Nacks a message, or several in one request. */
  async #nack(messages: ReceivedMessage | ReceivedMessage[], delayMs: number): Promise<void> {
    const all = Array.isArray(messages) ? messages : [messages];
    try {
      const results = await this.client.nack(this.source, all.map((m) => m.receipt), delayMs);
      for (let i = 0; i < all.length; i++) {
        if (settledLost(results[i])) this.stats.lost++;
        else this.stats.nacked++;
      }
    } catch (error) {
      for (const message of all) this.report(error, message);
    }
  }

  /**
   * Waits for in-flight handlers: without limit when the run ended by `maxMessages`, and up to
   * `drainMs` after an abort, after which those still running are nacked.
   */
  async drain(): Promise<void> {
    if (this.tasks.size === 0) return;
    if (!this.stopped.aborted) {
      const aborted = new Promise<void>((resolve) =>
        this.stopped.addEventListener("abort", () => resolve(), { once: true })
      );
      await Promise.race([Promise.all(this.tasks), aborted]);
      if (this.tasks.size === 0) return;
    }
    const drainMs = this.options.drainMs ?? this.leaseMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) =>
      timer = setTimeout(() => resolve("timeout"), drainMs)
    );
    const done = await Promise.race([
      Promise.all(this.tasks).then(() => "done" as const),
      timeout,
    ]);
    clearTimeout(timer);
    if (done === "done") return;
    const stuck = [...this.#nackNow.values()];
    for (const message of stuck) this.#abandoned.add(message.receipt);
    await Promise.all(stuck.map((message) => this.#nack(message, 0)));
  }
}
