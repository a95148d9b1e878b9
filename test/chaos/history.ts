/**
 * The chaos history: one JSON object per line, every client operation's invoke and its
 * completion (ok / fail / unknown, with the node that answered and the time), the nemesis' faults,
 * the final heal, the drain and each node's state read on its own. `checker.ts` reads it back.
 *
 * Names: a *target* is where a publish goes (`q:<queue>` or `t:<topic>`); a *source* is where a
 * receive reads (`q:<queue>` or `s:<topic>/<subscription>`). A queue is both.
 *
 * @module
 */

/** How one operation ended. `unknown`: it may or may not have been applied. */
export type Outcome = "ok" | "fail" | "unknown";

/** One message as a receive returned it. */
export interface Delivered {
  readonly id: string;
  readonly seq: number;
  readonly attempt: number;
  readonly group?: string;
}

/** One receipt being settled, named by what it delivered. */
export interface Settling {
  readonly source: string;
  readonly id: string;
  readonly seq: number;
  readonly attempt: number;
  readonly group?: string;
}

/** One message published inside a publish or transaction. `from`: the source id it moves. */
export interface Published {
  readonly target: string;
  readonly id: string;
  readonly group?: string;
  readonly from?: string;
}

/** Per source: the promise it makes. `fedBy`: the targets whose publishes reach it. */
export interface SourceConfig {
  readonly mode: "exactly_once" | "at_least_once";
  readonly fifo: boolean;
  readonly fedBy: readonly string[];
  /** Each id is delivered at most once, redeliveries included (MQTT QoS 2 at a subscriber). */
  readonly once?: boolean;
}

/** Counters of one source as one node reports them (`?consistency=stale`). */
export interface SourceStats {
  readonly ready: number;
  readonly leased: number;
  readonly delayed: number;
  readonly published: number;
  readonly acked: number;
}

/** One line of the history. `t`: milliseconds since the run started. */
export type HistoryEvent =
  | { readonly type: "config"; readonly t: number; readonly sources: Record<string, SourceConfig> }
  | {
    readonly type: "invoke";
    readonly t: number;
    readonly op: "publish";
    readonly opId: number;
    readonly p: string;
    readonly messages: readonly Published[];
  }
  | {
    readonly type: "invoke";
    readonly t: number;
    readonly op: "receive";
    readonly opId: number;
    readonly p: string;
    readonly source: string;
  }
  | {
    /** A linearizable read of a queue's stats (`GET /v1/queues/{q}`). */
    readonly type: "invoke";
    readonly t: number;
    readonly op: "read";
    readonly opId: number;
    readonly p: string;
    readonly source: string;
  }
  | {
    readonly type: "invoke";
    readonly t: number;
    readonly op: "ack";
    readonly opId: number;
    readonly p: string;
    readonly items: readonly Settling[];
  }
  | {
    readonly type: "invoke";
    readonly t: number;
    readonly op: "txn";
    readonly opId: number;
    readonly p: string;
    readonly items: readonly Settling[];
    readonly messages: readonly Published[];
  }
  | {
    readonly type: "complete";
    readonly t: number;
    readonly opId: number;
    readonly outcome: Outcome;
    readonly node?: string;
    readonly error?: string;
    /** publish / txn: the seq of each message, in invoke order. */
    readonly seqs?: readonly number[];
    /** receive: what was leased. */
    readonly msgs?: readonly Delivered[];
    /** ack / txn: the status of each settled item, in invoke order. */
    readonly statuses?: readonly string[];
    /** read: the queue's `published` counter. */
    readonly published?: number;
  }
  | {
    readonly type: "nemesis";
    readonly t: number;
    readonly kind: string;
    readonly phase: "start" | "end";
    readonly detail: string;
  }
  | { readonly type: "heal"; readonly t: number }
  /** A node process that died on its own (an assertion, a fatal error), with its last words. */
  | { readonly type: "crash"; readonly t: number; readonly node: string; readonly detail: string }
  | { readonly type: "drain"; readonly t: number; readonly done: boolean; readonly detail: string }
  | {
    readonly type: "state";
    readonly t: number;
    readonly node: string;
    readonly appliedIndex: number;
    readonly sources: Record<string, SourceStats>;
  };

/** Appends events to memory and, when given a path, to a JSONL file (flushed in batches). */
export class History {
  readonly events: HistoryEvent[] = [];
  readonly #t0 = Date.now();
  readonly #file: Deno.FsFile | undefined;
  readonly #encoder = new TextEncoder();
  #pending: string[] = [];
  #nextOpId = 1;
  #flushing: Promise<void> = Promise.resolve();

  constructor(path?: string) {
    this.#file = path === undefined
      ? undefined
      : Deno.openSync(path, { create: true, write: true, truncate: true });
  }

  /** Milliseconds since the run started. */
  now(): number {
    return Date.now() - this.#t0;
  }

  /** A fresh operation id. */
  opId(): number {
    return this.#nextOpId++;
  }

  /** Records one event (its `t` is filled in when omitted). */
  add(event: HistoryEvent): void {
    this.events.push(event);
    if (this.#file !== undefined) {
      this.#pending.push(JSON.stringify(event));
      if (this.#pending.length >= 256) this.flush();
    }
  }

  /** Writes what is buffered; resolves once it is written. */
  flush(): Promise<void> {
    const file = this.#file;
    if (file === undefined || this.#pending.length === 0) return this.#flushing;
    const bytes = this.#encoder.encode(this.#pending.join("\n") + "\n");
    this.#pending = [];
    this.#flushing = this.#flushing.then(async () => {
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    await this.flush();
    this.#file?.close();
  }
}

/** Parses a JSONL history file's text. */
export function parseHistory(text: string): HistoryEvent[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}
