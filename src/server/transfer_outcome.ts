/**
 * The outcome of a leadership transfer, for `POST /v1/cluster/leadership-transfer` with
 * `"wait": true`. Only the leader that started the transfer can tell a transfer still under way
 * from one it abandoned (the Raft dissertation §3.10: after one election timeout without the
 * target taking over), so it watches its own Raft state:
 *
 * - `moved`: it no longer leads and has heard from the new leader (normally the target; another
 *   node if the target's election failed and a later one chose it);
 * - `stayed`: it leads the same term with no transfer under way (abandoned), or it leads again in
 *   a later term (the target's election failed and it won the next);
 * - `unknown`: neither within the wait (no leader known yet, or a starved node's ticks crawl).
 *
 * @module
 */

import { NO_NODE, type RaftStatus } from "../../cluster/raft/mod.ts";

export type TransferOutcome =
  | { readonly kind: "moved"; readonly leaderId: string }
  | { readonly kind: "stayed"; readonly detail: string }
  | { readonly kind: "unknown" };

/** The outcome as of `now`, for a transfer started by `before`'s node; undefined: under way. */
export function transferOutcome(before: RaftStatus, now: RaftStatus): TransferOutcome | undefined {
  if (now.role === "leader") {
    if (now.term > before.term) {
      return {
        kind: "stayed",
        detail: `The leadership transfer's election failed and ${now.id} was elected again ` +
          `(term ${now.term}); ask again`,
      };
    }
    if (now.leadTransferee !== NO_NODE) return undefined;
    return {
      kind: "stayed",
      detail: `The leadership transfer was abandoned: its target did not take over within an ` +
        `election timeout, and ${now.id} still leads (term ${now.term}); ask again`,
    };
  }
  if (now.leaderId !== NO_NODE && now.leaderId !== now.id) {
    return { kind: "moved", leaderId: now.leaderId };
  }
  return undefined;
}

/**
 * Polls `status` every `everyMs` until the transfer that `before`'s node started has an outcome,
 * at most `waitMs`.
 */
export async function awaitTransfer(
  status: () => RaftStatus,
  before: RaftStatus,
  o: { readonly waitMs: number; readonly everyMs: number },
): Promise<TransferOutcome> {
  const rounds = Math.max(1, Math.ceil(o.waitMs / o.everyMs));
  const deadline = Date.now() + o.waitMs;
  for (let i = 0; i < rounds && Date.now() <= deadline; i++) {
    const out = transferOutcome(before, status());
    if (out !== undefined) return out;
    await new Promise((r) => setTimeout(r, o.everyMs));
  }
  return transferOutcome(before, status()) ?? { kind: "unknown" };
}
