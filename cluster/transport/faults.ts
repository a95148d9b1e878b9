/**
 * The link fault seam: drop with a probability, delay (with jitter, which reorders), or cut,
 * per peer and per direction. The chaos suite drives it through an admin HTTP endpoint, because
 * this kernel has no `tc netem`. It exists only on a transport built with `faultSeam: true`.
 *
 * Directions are seen from this node: `out` acts on messages this node sends to `peer`, `in` on
 * messages it receives from `peer`. A one-way cut A→B is `{peer: "B", direction: "out", cut: true}`
 * on A (or `direction: "in"` with `peer: "A"` on B). A cut drops messages; the socket stays up,
 * so healing is instant and a cut never shows up as a reconnect.
 *
 * @module
 */

import type { Message, NodeId } from "../raft/mod.ts";

export type FaultDirection = "out" | "in" | "both";

/** One fault rule as the admin endpoint receives it. Omitted fields mean "no such fault". */
export interface FaultSpec {
  readonly peer: NodeId;
  readonly direction: FaultDirection;
  /** Drop each message with this probability, 0..1. */
  readonly dropProbability?: number;
  /** Hold each message this long before sending/delivering it, 0..60000. */
  readonly delayMs?: number;
  /** Add a uniform extra 0..delayJitterMs per message; a non-zero jitter reorders messages. */
  readonly delayJitterMs?: number;
  /** Drop every message. */
  readonly cut?: boolean;
}

/** The fault in force on one peer and one direction. */
export interface LinkFault {
  readonly dropProbability: number;
  readonly delayMs: number;
  readonly delayJitterMs: number;
  readonly cut: boolean;
}

/** What `list()` reports: the rules in force, one row per peer. */
export interface FaultRow {
  readonly peer: NodeId;
  readonly out?: LinkFault;
  readonly in?: LinkFault;
}

/** The methods the admin endpoint calls. Present only with `faultSeam: true`. */
export interface FaultControl {
  /** Replaces the rule of `spec.peer` in `spec.direction` (both: both directions). */
  set(spec: FaultSpec): void;
  /** Removes the rules of one peer, or of every peer when `peer` is omitted. */
  clear(peer?: NodeId): void;
  list(): FaultRow[];
}

export type FaultSpecResult =
  | { readonly ok: true; readonly spec: FaultSpec }
  | { readonly ok: false; readonly errors: string[] };

const DELAY_MS_MAX = 60_000;
const SPEC_KEYS = new Set([
  "peer",
  "direction",
  "dropProbability",
  "delayMs",
  "delayJitterMs",
  "cut",
]);

/** Validates an untrusted fault spec (e.g. a parsed JSON body) without a schema library. */
export function validateFaultSpec(input: unknown): FaultSpecResult {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { ok: false, errors: ["fault spec must be an object"] };
  }
  const r = input as Record<string, unknown>;
  const errors: string[] = [];
  for (const key of Object.keys(r)) {
    if (!SPEC_KEYS.has(key)) errors.push(`unknown field ${key}`);
  }
  if (typeof r.peer !== "string" || r.peer.length === 0) errors.push("peer must be a node id");
  if (r.direction !== "out" && r.direction !== "in" && r.direction !== "both") {
    errors.push('direction must be "out", "in" or "both"');
  }
  const num = (key: string, max: number) => {
    const v = r[key];
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > max) {
      errors.push(`${key} must be a number in 0..${max}`);
    }
  };
  num("dropProbability", 1);
  num("delayMs", DELAY_MS_MAX);
  num("delayJitterMs", DELAY_MS_MAX);
  if (r.cut !== undefined && typeof r.cut !== "boolean") errors.push("cut must be a boolean");
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, spec: r as unknown as FaultSpec };
}

/** The rules in force, keyed by peer then direction. */
export class FaultTable implements FaultControl {
  readonly #rules = new Map<NodeId, { out?: LinkFault; in?: LinkFault }>();

  set(spec: FaultSpec): void {
    const checked = validateFaultSpec(spec);
    if (!checked.ok) throw new Error(`Cannot set link fault: ${checked.errors.join("; ")}`);
    const fault: LinkFault = {
      dropProbability: spec.dropProbability ?? 0,
      delayMs: spec.delayMs ?? 0,
      delayJitterMs: spec.delayJitterMs ?? 0,
      cut: spec.cut ?? false,
    };
    const row = this.#rules.get(spec.peer) ?? {};
    if (spec.direction !== "in") row.out = fault;
    if (spec.direction !== "out") row.in = fault;
    this.#rules.set(spec.peer, row);
  }

  clear(peer?: NodeId): void {
    if (peer === undefined) this.#rules.clear();
    else this.#rules.delete(peer);
  }

  list(): FaultRow[] {
    return [...this.#rules].map(([peer, row]) => ({ peer, ...row }));
  }

  get(peer: NodeId, direction: "out" | "in"): LinkFault | undefined {
    return this.#rules.get(peer)?.[direction];
  }
}

/** How one batch fares under a fault: pass now, pass later (grouped by delay), or drop. */
export interface FaultOutcome {
  readonly now: Message[];
  readonly later: { readonly delayMs: number; readonly msgs: Message[] }[];
  readonly dropped: number;
}

/**
 * Sorts `msgs` by `fault`. Without jitter all delayed messages share one delay (order kept, one
 * timer); with jitter each message gets its own delay, which reorders them.
 */
export function applyFault(
  fault: LinkFault | undefined,
  msgs: readonly Message[],
  random: () => number,
): FaultOutcome {
  if (fault === undefined) return { now: [...msgs], later: [], dropped: 0 };
  if (fault.cut) return { now: [], later: [], dropped: msgs.length };
  const kept = msgs.filter((_) => fault.dropProbability === 0 || random() >= fault.dropProbability);
  const dropped = msgs.length - kept.length;
  if (fault.delayMs === 0 && fault.delayJitterMs === 0) return { now: kept, later: [], dropped };
  if (fault.delayJitterMs === 0) {
    return {
      now: [],
      later: kept.length > 0 ? [{ delayMs: fault.delayMs, msgs: kept }] : [],
      dropped,
    };
  }
  const later = kept.map((m) => ({
    delayMs: fault.delayMs + random() * fault.delayJitterMs,
    msgs: [m],
  }));
  return { now: [], later, dropped };
}
