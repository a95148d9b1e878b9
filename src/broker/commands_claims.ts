/**
 * The claim commands of the broker (a topic's client sessions, `_claims.ts`) and their results,
 * part of `Command` and `ResultByOp` in `commands.ts`. Their `op` strings are op codes of the log
 * like every other: APPEND-ONLY.
 *
 * @module
 */

import type { ReceiptResult } from "./commands.ts";

export type ClaimCommand =
  /**
   * Takes the claim `key` of a topic for `holder` (a connection of a client somewhere): whoever
   * held it before is told by the change (every node sees the new holder when it applies this).
   * `fresh` drops the claim's old subscriptions first (a clean start). `subscriptions` names the
   * topic's subscriptions the claim owns: they go with it when it ends. `expireMs`: how long the
   * claim lives on once released (absent: for good). `data`: opaque, kept with the claim. Taken
   * again by its holder: only updates `data`, `subscriptions` and `expireMs`. `ifHeld`: only
   * such an update; refused `session_moved`, nothing changed, unless `holder` holds the claim now
   * (a late retry of a connection that ended must not take its session back from its successor).
   */
  | {
    readonly op: "claim_take";
    readonly topic: string;
    readonly key: string;
    readonly holder: string;
    readonly fresh?: boolean;
    readonly subscriptions?: readonly string[];
    readonly expireMs?: number;
    readonly data?: string;
    readonly ifHeld?: boolean;
  }
  /**
   * Releases the claim if `holder` still holds it: it ends (with its subscriptions) after its
   * `expireMs` (this command's, else the one it was taken with), at once when that is 0.
   * Another holder's claim is left alone.
   */
  | {
    readonly op: "claim_release";
    readonly topic: string;
    readonly key: string;
    readonly holder: string;
    readonly expireMs?: number;
  }
  /**
   * Frees slots of a claim (`MessageInput.once`): each may carry another message; and
   * `pubrels` (`claim_settle`'s holds) that are done. With `holder`: refused `session_moved`,
   * nothing freed, unless that holder holds the claim now (a late retry of a connection that
   * ended must not free a packet id its successor reused).
   */
  | {
    readonly op: "claim_free";
    readonly topic: string;
    readonly key: string;
    readonly slots: readonly number[];
    readonly pubrels?: readonly number[];
    readonly holder?: string;
  }
  /**
   * Acks `receipts` of the topic's subscription `subscription` and, in the same entry, holds
   * `hold` in the claim's `pubrels` (MQTT QoS 2 to a subscriber: PUBREC came, the message is
   * settled, and PUBREL is owed for these packet ids, on any node, until PUBCOMP frees them).
   * With `holder`: as `claim_free`'s, nothing acked or held unless that holder holds the claim.
   */
  | {
    readonly op: "claim_settle";
    readonly topic: string;
    readonly key: string;
    readonly subscription: string;
    readonly receipts: readonly string[];
    readonly hold: readonly number[];
    readonly holder?: string;
  };

export interface ClaimResultByOp {
  /**
   * `previous`: the holder before (null: none, or released); `present`: the claim existed and was
   * kept (not `fresh`); `data`: its data now.
   */
  claim_take: {
    readonly ok: true;
    readonly previous: string | null;
    readonly present: boolean;
    readonly data: string | null;
    /** This take's stamp (`ClaimInfo.stamp`). */
    readonly stamp: number;
    /** The packet ids a PUBREL is owed for (`claim_settle`). */
    readonly pubrels: readonly number[];
  };
  /** `released`: the holder held it (false: another holder took it, or it was gone). */
  claim_release: { readonly ok: true; readonly released: boolean };
  /** How many of the slots were held. */
  claim_free: { readonly ok: true; readonly freed: number };
  claim_settle: {
    readonly ok: true;
    readonly results: readonly ReceiptResult[];
    /** Whether the claim was there to keep the holds. */
    readonly kept: boolean;
  };
}
