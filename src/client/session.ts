/**
 * The client's session (docs/client.md "Sessions"): opened on the first write, it numbers every
 * write, and tells the broker the lowest number whose answer this client has not received yet,
 * so the broker keeps only the answers a retry may still ask for. Renewed when it expired
 * between calls; never in the middle of a call that may already have applied (the transport
 * decides that).
 *
 * @module
 */

/** One open session as this client sees it. */
export interface OpenSession {
  readonly id: number;
  next: number;
  /** Seqs whose answer has not arrived: calls in flight and parked unknown outcomes. */
  readonly outstanding: Set<number>;
  /** Seqs of calls that ended `UnknownOutcome`, oldest first: kept resumable, at most a few. */
  readonly parked: number[];
}

/** A write's place in a session. */
export interface Ticket {
  readonly session: OpenSession | { readonly id: number };
  readonly seq: number;
}

/** Unknown outcomes kept resumable per session; older ones are released (see `park`). */
export const PARKED_MAX = 16;
/**
 * A parked seq is released once this many later writes were numbered: while it is outstanding
 * the broker keeps every answer after it, so a parked seq held forever would fill the session's
 * byte bound (8 MiB, ~50 000 publish answers) and stop its writes with `sessions_full`.
 */
export const PARK_WRITES = 1000;

/** Opens sessions on demand, one at a time, and hands out sequence numbers. */
export class SessionNumbers {
  #current: OpenSession | undefined;
  #opening: Promise<OpenSession> | undefined;

  constructor(private readonly open: (signal?: AbortSignal) => Promise<number>) {}

  /** The current session (opened if there is none) and the next seq in it. */
  async begin(signal?: AbortSignal): Promise<Ticket> {
    return this.#next(this.#current ?? await this.#openOnce(signal));
  }

  #next(session: OpenSession): Ticket {
    const seq = session.next++;
    session.outstanding.add(seq);
    while (session.parked.length > 0 && session.parked[0] <= seq - PARK_WRITES) {
      session.outstanding.delete(session.parked.shift()!);
    }
    return { session, seq };
  }

  /** `begin` when a session is open already (no promise); undefined when one must be opened. */
  beginNow(): Ticket | undefined {
    const session = this.#current;
    return session === undefined ? undefined : this.#next(session);
  }

  /** A ticket for a call being resumed; its session need not be the current one. */
  resume(id: number, seq: number): Ticket {
    const session = this.#current?.id === id ? this.#current : { id };
    return { session, seq };
  }

  /** The lowest seq of `ticket`'s session whose answer has not arrived (0: not known here). */
  lowest(ticket: Ticket): number {
    if (!("outstanding" in ticket.session)) return 0;
    let low = ticket.session.next;
    // Seqs go into `outstanding` only in `begin`, in increasing order, and a Set iterates in
    // insertion order: its first is its lowest (no pass over the 256 of 256 lanes in flight).
    for (const seq of ticket.session.outstanding) {
      low = Math.min(low, seq);
      break;
    }
    return Math.min(low, ticket.seq);
  }

  /** The call's answer arrived (or it failed for sure): its stored answer may go. */
  finish(ticket: Ticket): void {
    if ("outstanding" in ticket.session) ticket.session.outstanding.delete(ticket.seq);
  }

  /**
   * The call ended with an unknown outcome: keep its seq outstanding so that a resumed call gets
   * the stored answer. Only the last `PARKED_MAX` stay, each for the next `PARK_WRITES` writes;
   * then it is released, as otherwise the session would keep every answer after it until its
   * byte bound.
   */
  park(ticket: Ticket): void {
    if (!("outstanding" in ticket.session)) return;
    const s = ticket.session;
    s.parked.push(ticket.seq);
    while (s.parked.length > PARKED_MAX) s.outstanding.delete(s.parked.shift()!);
  }

  /** The broker said `id` is not open: forget it, so the next `begin` opens a new one. */
  expired(id: number): void {
    if (this.#current?.id === id) this.#current = undefined;
  }

  /** Forgets the current session (it is being closed); returns its id. */
  forget(): number | undefined {
    const id = this.#current?.id;
    this.#current = undefined;
    return id;
  }

  /** The current session's id, if one is open. */
  get currentId(): number | undefined {
    return this.#current?.id;
  }

  #openOnce(signal?: AbortSignal): Promise<OpenSession> {
    this.#opening ??= this.open(signal).then(
      (id) => {
        this.#opening = undefined;
        if (!Number.isSafeInteger(id)) throw new Error(`The server opened no session: ${id}`);
        this.#current = { id, next: 1, outstanding: new Set(), parked: [] };
        return this.#current;
      },
      (error) => {
        this.#opening = undefined;
        throw error;
      },
    );
    return this.#opening;
  }
}
