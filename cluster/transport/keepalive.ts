/**
 * Link liveness. A partition that drops packets (a switch failure, an iptables DROP rule) leaves
 * a TCP connection open and silent: nothing closes it, writes pile up in buffers, and TCP's
 * retransmissions back off so far that after the network heals the link can stay mute for many
 * seconds more. So every open link is watched, in the manner of etcd's rafthttp link heartbeats:
 * the dialer sends a tiny text `ping` every `keepaliveMs`, the listener answers `pong`, and the
 * dialer gives the socket up when it has heard nothing for `linkSilenceMs` (and redials at once);
 * the listener, whose drop only frees a dead dialer's socket, waits `HANDSHAKE_PATIENCE_MAX` times
 * as long (`inbound.ts`).
 * The dialer also counts a shrinking `bufferedAmount` as hearing the peer (TCP is acknowledging
 * its bytes), so a slow link busy with a large frame is not mistaken for a dead one, and the
 * peer's answers to its messages (a Raft `*_resp`, which come on the peer's own link: the peer
 * got what this one carried), and sends no ping on a beat when it heard the peer within the last
 * `keepaliveMs`: a leader's links carry heartbeats every 50 ms and their answers come back, so
 * they go without pings while the answers come. The keepalives run on the node's ticker when the
 * transport has one (`LinkTicker`), on timers of their own otherwise.
 *
 * @module
 */

import { type LinkTicker, unrefInterval } from "./_context.ts";

/** Text frames of the keepalive, sent only on authenticated links. */
export const PING = '{"t":"ping"}';
export const PONG = '{"t":"pong"}';

/** Watches one open link; see the module doc. */
export class Keepalive {
  #lastHeardMs: number;
  #stopTimer: (() => void) | undefined;

  constructor(
    private readonly options: {
      readonly keepaliveMs: number;
      readonly linkSilenceMs: number;
      /** Called every `keepaliveMs` before the silence check (send a ping, note progress). */
      readonly onBeat: () => void;
      /** Called once when nothing was heard for `linkSilenceMs`; the watch stops itself. */
      readonly onSilent: (silentMs: number) => void;
      readonly now?: () => number;
      /** Beats on this ticker's beats instead of an interval timer of its own. */
      readonly ticker?: LinkTicker;
    },
  ) {
    this.#lastHeardMs = this.#now();
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Something arrived from the peer (or the peer acknowledged bytes). */
  heard(): void {
    this.#lastHeardMs = this.#now();
  }

  /** Whether the peer was heard within the last `ms`. */
  heardWithin(ms: number): boolean {
    return this.#now() - this.#lastHeardMs < ms;
  }

  start(): void {
    if (this.#stopTimer !== undefined) return;
    this.#lastHeardMs = this.#now();
    const { ticker, keepaliveMs } = this.options;
    if (ticker !== undefined) {
      this.#stopTimer = ticker.every(keepaliveMs, () => this.check());
      return;
    }
    const timer = unrefInterval(() => this.check(), keepaliveMs);
    this.#stopTimer = () => clearInterval(timer);
  }

  /** One beat: `onBeat`, then the silence check. Runs from the timer; exposed for tests. */
  check(): void {
    this.options.onBeat();
    const silentMs = this.#now() - this.#lastHeardMs;
    if (silentMs >= this.options.linkSilenceMs) {
      this.stop();
      this.options.onSilent(silentMs);
    }
  }

  stop(): void {
    this.#stopTimer?.();
    this.#stopTimer = undefined;
  }
}
