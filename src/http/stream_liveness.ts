/**
 * The liveness of a stream whose client pings (it opened `/v1/stream?ping=1` and was told the
 * period in the node's `hello`; docs/stream.md). Such a stream is upgraded without Deno's idle
 * timer, which re-arms a timer on every message received, and is watched here instead: the client
 * sends something at least every `pingMs` (a `ping` when it has nothing else to send), so a
 * stream that said nothing for `SILENT_BEATS` checks in a row lost its client (a machine gone, a
 * partition: no FIN ever comes) and is closed, which stops its consumers (no more leasing on
 * credit nobody will use) and ends its long polls. Per message: one counter increment. (Its
 * close frame waits for an answer that never comes; the TCP connection goes when the kernel
 * gives up retransmitting: Deno's WebSocket has no way to drop it at once from here.)
 *
 * @module
 */

/** Checks (one per `pingMs`) with nothing heard before a stream is given up: 3-4 periods. */
export const SILENT_BEATS = 3;

/** Watches one stream; `heard()` on every message, `onSilent` once when it went silent. */
export class StreamLiveness {
  #heard = 0;
  #seen = 0;
  #silentBeats = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly pingMs: number, private readonly onSilent: () => void) {}

  heard(): void {
    this.#heard++;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#check(), this.pingMs);
  }

  #check(): void {
    if (this.#heard !== this.#seen) {
      this.#seen = this.#heard;
      this.#silentBeats = 0;
      return;
    }
    if (++this.#silentBeats < SILENT_BEATS) return;
    this.stop();
    this.onSilent();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * The bytes a stream's socket may hold unsent (`bufferedAmount`, which Deno's WebSocket keeps in
 * memory) before its new requests are refused (`unavailable`, retry): a client that sends but
 * does not read would have the node keep its answers without bound.
 */
export const UNSENT_MAX = 64 << 20;

/** How long the unsent bytes may stay above `UNSENT_MAX` without shrinking (`UnreadWatch`). */
export const UNREAD_GRACE_MS = 15_000;

/** Whether the client of `socket` is behind on what it is sent (`UNSENT_MAX`). */
export function notReading(socket: { readonly bufferedAmount: number }): boolean {
  return socket.bufferedAmount > UNSENT_MAX;
}

/**
 * Gives a stream up (`onStuck`, closed 4008) when its unsent bytes stayed above `UNSENT_MAX`
 * for `UNREAD_GRACE_MS` without shrinking: its client reads nothing. One that reads slowly (a
 * large answer on a slow link) shrinks them, and is watched again from there.
 */
export class UnreadWatch {
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly unsent: () => number,
    private readonly onStuck: () => void,
    /** Runs `fn` after `ms` (a seam for tests). */
    private readonly after: (fn: () => void, ms: number) => ReturnType<typeof setTimeout> =
      setTimeout,
  ) {}

  /** After a send: starts watching when more than `UNSENT_MAX` waits unsent. */
  sent(): void {
    if (this.#timer === undefined && this.unsent() > UNSENT_MAX) this.#watch(this.unsent());
  }

  #watch(was: number): void {
    this.#timer = this.after(() => {
      this.#timer = undefined;
      const now = this.unsent();
      if (now <= UNSENT_MAX) return;
      if (now < was) return this.#watch(now);
      this.onStuck();
    }, UNREAD_GRACE_MS);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
