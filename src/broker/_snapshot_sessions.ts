/**
 * Sessions in a snapshot: one row per session, in activity order,
 * `[id, owner, timeoutMs, lastActive, lowest, [seq, op, answer, ...]]`. A row is a copy of the
 * session's mutable fields (the answers themselves never change once stored), so a capture
 * encodes exactly the state it was taken at. Folder-private.
 *
 * @module
 */

import type { StoredAnswer } from "./_answers.ts";
import { answerBytes } from "./_answers.ts";
import { type Session, SESSION_BASE_BYTES, type SessionTable } from "./_sessions.ts";

/** A session as a snapshot row. */
export type SessionRow = [number, string, number, number, number, unknown[]];

/** Sessions in one snapshot part. */
export const SESSIONS_PER_PART = 256;

export function sessionRow(s: Session): SessionRow {
  const answers: unknown[] = [];
  for (const [seq, a] of s.answers) answers.push(seq, a.op, a.answer);
  return [s.id, s.owner, s.timeoutMs, s.lastActive, s.lowest, answers];
}

/** Restores one row; `copy` detaches decoded bytes from the snapshot buffer. */
export function restoreSessionRow(
  table: SessionTable,
  row: SessionRow,
  copy: (v: unknown) => unknown,
): void {
  const [id, owner, timeoutMs, lastActive, lowest, flat] = row;
  const s: Session = {
    id,
    owner,
    timeoutMs,
    lastActive,
    lowest,
    answers: new Map(),
    bytes: SESSION_BASE_BYTES + owner.length,
  };
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const answer = copy(flat[i + 2]) as StoredAnswer;
    // The same estimate as when it was stored (SessionTable.store), so bounds decide alike.
    const bytes = 24 + answerBytes(answer);
    s.answers.set(flat[i] as number, { op: flat[i + 1] as string, answer, bytes });
    s.bytes += bytes;
  }
  table.restore(s);
}
