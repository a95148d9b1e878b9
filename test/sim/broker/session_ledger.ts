/**
 * The log-level count of session writes: for every committed entry that carries a (session, seq),
 * whether applying it applied the command (rather than answering a stored answer or refusing it
 * untouched). Every replica applies the same entry at the same index with the same result (the
 * harness checks replica states equal), so whichever node applies an index first records it.
 * Two entries that applied the same (session, seq) are a violation: the write was applied twice.
 *
 * @module
 */

import type { Result, SessionRef } from "../../../src/broker/mod.ts";

/** Refusals of the exactly-once layer: the command was not applied. */
const NOT_APPLIED = new Set(["session_expired", "sessions_full", "idempotency_conflict"]);

/** Whether an entry's result means its command was applied (its answer then stored). */
export function appliedBy(result: Result | undefined): boolean {
  if (result === undefined || result.replayed === true) return false;
  if (result.ok) return true;
  if (NOT_APPLIED.has(result.reason)) return false;
  // A seq below the session's lowest unanswered one is refused before anything is applied.
  return !(result.reason === "invalid_request" && result.detail.includes("nothing was applied"));
}

/**
 * Per log place (`index` or `index.pos`, the position in a batch entry), the (session, seq) it
 * applied: a batch's proposals are applied as if each were an entry of its own.
 */
export class SessionLedger {
  readonly applied = new Map<string, string>();

  record(index: number, pos: number, session: SessionRef, result: Result | undefined): void {
    if (!appliedBy(result)) return;
    this.applied.set(pos === 0 ? `${index}` : `${index}.${pos}`, `${session.id}/${session.seq}`);
  }

  /** Every (session, seq) applied by more than one entry. */
  violations(): string[] {
    const byKey = new Map<string, string[]>();
    for (const [index, key] of this.applied) byKey.set(key, [...byKey.get(key) ?? [], index]);
    const out: string[] = [];
    for (const [key, indexes] of byKey) {
      if (indexes.length > 1) {
        out.push(
          `session write ${key} applied twice: entries ${
            indexes.sort((a, b) => Number(a) - Number(b))
          }`,
        );
      }
    }
    return out;
  }
}
