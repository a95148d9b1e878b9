/**
 * Client sessions (Raft dissertation §6.3, as LogCabin keeps them): per session, the answers its
 * client may still ask for, by sequence number. Expiry by entry time only. A leaf: it knows
 * stored answers, not the broker. Folder-private.
 *
 * @module
 */

import { type StoredAnswer, storedAnswerBytes } from "./_answers.ts";

/** Default inactivity after which a session expires: 1 h of entry time. */
export const SESSION_TIMEOUT_MS = 60 * 60 * 1000;
/** The longest inactivity a session may ask for: 24 h. */
export const SESSION_TIMEOUT_MS_MAX = 24 * 60 * 60 * 1000;
/** Most open sessions; a `session_open` beyond answers `sessions_full`. */
export const SESSIONS_MAX = 100_000;
/** Most stored-answer bytes of one session; a new write beyond answers `sessions_full`. */
export const SESSION_BYTES_MAX = 8 * 1024 * 1024;
/**
 * Most bytes of every session and Idempotency-Key together (`answerBytes` estimates): a new
 * session, key or stored answer beyond answers `sessions_full`.
 */
export const EXACTLY_ONCE_BYTES_MAX = 256 * 1024 * 1024;
/** What an idle session counts: its id, owner, times and map (see docs/broker.md). */
export const SESSION_BASE_BYTES = 160;

/** One stored answer of a session. */
export interface SessionAnswer {
  readonly op: string;
  readonly answer: StoredAnswer;
  readonly bytes: number;
}

/** One open session. */
export interface Session {
  /** The index of the entry that opened it. */
  readonly id: number;
  /** The token name that opened it ("" with auth off): only it may use the session. */
  readonly owner: string;
  readonly timeoutMs: number;
  /** Entry time of the last command on it. */
  lastActive: number;
  /** Answers below this seq were received by the client and are dropped. */
  lowest: number;
  readonly answers: Map<number, SessionAnswer>;
  /** `SESSION_BASE_BYTES` + owner + the answers' bytes. */
  bytes: number;
}

/**
 * Open sessions in order of last activity (a Map keeps insertion order; a command moves its
 * session to the end), so expiry pops from the front. A session whose own timeout is shorter than
 * the front's may outlive its timeout in memory until the front goes, but `live` checks each
 * session's own time, so it answers `session_expired` exactly on time.
 */
export class SessionTable {
  readonly byId = new Map<number, Session>();
  /** The bytes of every session. */
  bytes = 0;

  /** The session `id` if it is open at `now` and belongs to `owner`. */
  live(id: number, owner: string, now: number): Session | undefined {
    const s = this.byId.get(id);
    if (s === undefined || s.owner !== owner || s.lastActive + s.timeoutMs <= now) return undefined;
    return s;
  }

  open(id: number, owner: string, timeoutMs: number, now: number): Session {
    this.#last = undefined;
    this.#frontUntil = -Infinity;
    const s: Session = {
      id,
      owner,
      timeoutMs,
      lastActive: now,
      lowest: 0,
      answers: new Map(),
      bytes: SESSION_BASE_BYTES + owner.length,
    };
    this.byId.set(id, s);
    this.bytes += s.bytes;
    return s;
  }

  /** Restores a session as a snapshot held it (in activity order). */
  restore(s: Session): void {
    this.#last = undefined;
    this.#frontUntil = -Infinity;
    this.byId.set(s.id, s);
    this.bytes += s.bytes;
  }

  touch(s: Session, now: number): void {
    s.lastActive = now;
    if (this.#last === s) return; // already the last in activity order
    this.#frontUntil = -Infinity; // it may have been the front
    this.byId.delete(s.id);
    this.byId.set(s.id, s);
    this.#last = s;
  }

  /** The session touched last (the end of `byId`'s order), or undefined when unknown. */
  #last: Session | undefined;

  /** Drops the answers below `lowest`: the client received them. */
  advance(s: Session, lowest: number): void {
    if (lowest <= s.lowest) return;
    const from = s.lowest;
    s.lowest = lowest;
    if (lowest - from <= s.answers.size) {
      // The usual step (a few seqs): look those up instead of walking every answer.
      for (let seq = from; seq < lowest; seq++) this.#drop(s, seq);
      return;
    }
    for (const seq of s.answers.keys()) if (seq < lowest) this.#drop(s, seq);
  }

  #drop(s: Session, seq: number): void {
    const a = s.answers.get(seq);
    if (a === undefined) return;
    s.answers.delete(seq);
    s.bytes -= a.bytes;
    this.bytes -= a.bytes;
  }

  store(s: Session, seq: number, op: string, answer: StoredAnswer): void {
    const bytes = 24 + storedAnswerBytes(answer);
    s.answers.set(seq, { op, answer, bytes });
    s.bytes += bytes;
    this.bytes += bytes;
  }

  close(s: Session): void {
    if (this.#last === s) this.#last = undefined;
    this.#frontUntil = -Infinity;
    this.byId.delete(s.id);
    this.bytes -= s.bytes;
  }

  /**
   * Entry time until which the front session (the least recently active) stays open, as the
   * last `expire` found it, so `expire` before then returns at once: it runs for every proposal,
   * and made an iterator and its first result each time (~80 bytes per message of a session's
   * publishes, on every node). Reset whenever the front may change (a session opened, restored,
   * closed, or moved to the end by `touch`); the front's own `lastActive` only grows, which
   * leaves this value early, never late, so `expire` drops exactly what it dropped before.
   */
  #frontUntil = -Infinity;

  /** Forgets sessions idle past their timeout, from the front. */
  expire(now: number): void {
    // Run for every proposal: with no session, not even an iterator.
    if (this.byId.size === 0 || now < this.#frontUntil) return;
    for (const s of this.byId.values()) {
      const until = s.lastActive + s.timeoutMs;
      if (until > now) {
        this.#frontUntil = until;
        return;
      }
      this.close(s);
    }
  }
}
