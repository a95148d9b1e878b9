/**
 * Test helpers: a broker driven like a log, one entry per call, with a settable entry time.
 * Folder-private; used by the tests and benchmarks only.
 *
 * @module
 */

import type { Command, Delivery, Envelope, MessageInput, Result, ResultOf } from "./commands.ts";
import { BrokerState } from "./state.ts";

/** Encodes text as a body. */
export function body(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Decodes a delivery's body as text. */
export function text(d: { body: Uint8Array }): string {
  return new TextDecoder().decode(d.body);
}

/** Applies commands as consecutive log entries at time `now` (ms), which tests move forward. */
export class Log {
  index = 0;
  now = 1_000_000;

  constructor(readonly broker = new BrokerState()) {}

  apply<C extends Command>(cmd: C, idem?: { key: string; fingerprint: string }): ResultOf<C> {
    this.index++;
    const env = idem === undefined ? { ts: this.now, cmd } : { ts: this.now, cmd, idem };
    return this.broker.apply(this.index, env) as ResultOf<C>;
  }

  /** Applies `cmd` with envelope fields: a session, an owner, a key. */
  send<C extends Command>(cmd: C, extra: Omit<Envelope, "ts" | "cmd">): ResultOf<C> {
    this.index++;
    return this.broker.apply(this.index, { ts: this.now, cmd, ...extra }) as ResultOf<C>;
  }

  /** Opens a session and returns its id. */
  openSession(owner?: string, timeoutMs?: number): number {
    const cmd = timeoutMs === undefined
      ? { op: "session_open" as const }
      : { op: "session_open" as const, timeoutMs };
    const r = this.send(cmd, owner === undefined ? {} : { owner });
    if (!r.ok) throw new Error(`Cannot open a session: ${r.detail}`);
    return r.session;
  }

  /** Moves time forward and applies a tick. */
  advance(ms: number): void {
    this.now += ms;
    this.apply({ op: "tick" });
  }

  queue(name: string, options: Record<string, unknown> = {}): void {
    const r = this.apply({ op: "queue_put", queue: name, options });
    if (!r.ok) throw new Error(`Cannot create queue ${name}: ${r.detail}`);
  }

  publish(queue: string, message: Partial<MessageInput> & { text?: string }) {
    const { text: t, ...rest } = message;
    return this.apply({
      op: "publish",
      queue,
      message: { body: body(t ?? "x"), ...rest },
    });
  }

  /** Receives and returns the deliveries, throwing on a refusal. */
  receive(queue: string, max = 10, leaseMs?: number): Delivery[] {
    const r = this.apply(
      leaseMs === undefined
        ? { op: "receive", queue, max }
        : { op: "receive", queue, max, leaseMs },
    );
    if (!r.ok) throw new Error(`Cannot receive from ${queue}: ${r.detail}`);
    return [...r.messages];
  }

  /** The status of one receipt after an ack. */
  ack(queue: string, receipt: string): string {
    const r = this.apply({ op: "ack", queue, receipts: [receipt] });
    if (!r.ok) throw new Error(`Cannot ack on ${queue}: ${r.detail}`);
    return r.results[0].status;
  }
}

export type { Result };
