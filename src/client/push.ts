/**
 * Receiving by server push (docs/stream.md "Consume and credit"): a consumer on the stream to one
 * node, granted as much credit as the caller wants messages, so the node pushes deliveries as
 * they arrive and the client never polls. `receive` has the shape of `Client.receive`, so the
 * consumer loop runs the same on push and on long polls.
 *
 * @module
 */

import { errorFromProblem, NetworkError, toProblem } from "./errors.ts";
import type { StreamConsumer } from "./stream.ts";
import type { StreamPool } from "./stream_pool.ts";
import type { ReceivedMessage } from "./types.ts";

/** A push consumer of one receive path; reopened on another node after a loss. */
export class PushReceiver {
  #buffer: ReceivedMessage[] = [];
  #consumer: StreamConsumer | undefined;
  /** Credit granted and not yet used by a pushed message. */
  #outstanding = 0;
  #failure: unknown = undefined;
  #wake = () => {};
  #node = 0;
  /** Mean size of a pushed message (its JSON text), once one was pushed. */
  messageBytes: number | undefined = undefined;

  constructor(
    private readonly streams: StreamPool,
    private readonly nodes: readonly string[],
    private readonly path: string,
    private readonly leaseMs: number,
  ) {}

  /**
   * Up to `max` messages: those pushed already, else waits for the next push or `signal`. Keeps
   * `credit` (at least `max`) deliveries granted or waiting here.
   */
  async receive(
    options: { max: number; credit?: number; signal: AbortSignal },
  ): Promise<ReceivedMessage[]> {
    const { max, signal } = options;
    signal.throwIfAborted();
    await this.#open();
    const want = Math.max(max, options.credit ?? max) - this.#buffer.length - this.#outstanding;
    if (want > 0) {
      this.#outstanding += want;
      this.#consumer!.grant(want);
    }
    if (this.#buffer.length === 0 && this.#failure === undefined) {
      const onAbort = () => this.#wake();
      signal.addEventListener("abort", onAbort, { once: true });
      await new Promise<void>((resolve) => this.#wake = resolve);
      signal.removeEventListener("abort", onAbort);
    }
    if (this.#buffer.length === 0 && this.#failure !== undefined) {
      const failure = this.#failure;
      this.#failure = undefined;
      this.#consumer = undefined;
      this.#outstanding = 0;
      throw failure;
    }
    return this.#buffer.splice(0, max);
  }

  /** Stops the consumer; returns the messages pushed but never taken (to release them). */
  close(): ReceivedMessage[] {
    this.#consumer?.cancel();
    this.#consumer = undefined;
    return this.#buffer.splice(0);
  }

  async #open(): Promise<void> {
    if (this.#consumer !== undefined) return;
    const node = this.nodes[this.#node % this.nodes.length];
    let stream;
    try {
      stream = await this.streams.connection(node);
    } catch (error) {
      this.#node++;
      throw new NetworkError(
        { type: "network_error", title: "No stream", detail: String(error) },
        0,
        { cause: error },
      );
    }
    this.#outstanding = 0;
    const consumer = stream.consume(this.path, { leaseMs: this.leaseMs }, 0, (text) => {
      const messages = (JSON.parse(text) as { messages: ReceivedMessage[] }).messages;
      if (messages.length > 0) {
        const bytes = text.length / messages.length;
        this.messageBytes = this.messageBytes === undefined
          ? bytes
          : this.messageBytes * 0.9 + bytes * 0.1;
      }
      this.#outstanding = Math.max(0, this.#outstanding - messages.length);
      this.#buffer.push(...messages);
      this.#wake();
    });
    this.#consumer = consumer;
    consumer.done.then(
      async (response) => {
        if (response.status === 204) return;
        const body = await response.json().catch(() => ({}));
        this.#fail(
          consumer,
          errorFromProblem(toProblem(response.status, "", body), response.status),
        );
      },
      (error) => {
        this.#node++;
        this.#fail(
          consumer,
          new NetworkError(
            { type: "network_error", title: "The stream was lost", detail: String(error) },
            0,
            { cause: error },
          ),
        );
      },
    );
  }

  #fail(consumer: StreamConsumer, error: unknown): void {
    if (this.#consumer !== consumer) return;
    this.#failure = error;
    this.#wake();
  }
}
