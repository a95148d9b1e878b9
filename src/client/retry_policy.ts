/**
 * The transport's retry policy (`transport.ts`): which failed attempts are worth another and
 * where, the error a request ends with when none answered, `Retry-After`, and the backoff's
 * sleep.
 *
 * @module
 */

import { NetworkError, type Problem, QuorumqError, UnknownOutcome } from "./errors.ts";
import type { SessionNumbers, Ticket } from "./session.ts";
import type { Answer, RequestSpec } from "./transport.ts";

/** How a write is made exactly-once: its key, or its place in a session. */
export type Dedup =
  | { readonly kind: "none" }
  | { readonly kind: "key"; readonly key: string }
  | { readonly kind: "session"; ticket: Ticket; readonly numbers: SessionNumbers };

export type Attempt =
  | { kind: "answer"; answer: Answer }
  | { kind: "problem"; error: QuorumqError; retryAfterMs: number | null; leaderUrl: string | null }
  | { kind: "network"; error: unknown };

/** The retry decision for one failed attempt. */
export type Verdict = { retry: false } | {
  retry: true;
  /** The attempt may have applied the write. */
  ambiguous: boolean;
  minDelayMs: number;
  nextNode: "same" | "next" | string;
};

/** Which failures are worth another attempt, and where. */
export function judge(outcome: Exclude<Attempt, { kind: "answer" }>): Verdict {
  if (outcome.kind === "network") {
    return { retry: true, ambiguous: true, minDelayMs: 0, nextNode: "next" };
  }
  const { error, retryAfterMs, leaderUrl } = outcome;
  switch (error.type) {
    case "no_leader":
    case "unavailable":
    case "sessions_full":
      // Nothing was applied; another node may already know a leader (a partitioned node may not).
      return { retry: true, ambiguous: false, minDelayMs: retryAfterMs ?? 0, nextNode: "next" };
    case "not_leader":
      return { retry: true, ambiguous: false, minDelayMs: 0, nextNode: leaderUrl ?? "next" };
    case "unknown_outcome":
      return { retry: true, ambiguous: true, minDelayMs: retryAfterMs ?? 0, nextNode: "same" };
  }
  if (error.status >= 500) {
    return { retry: true, ambiguous: true, minDelayMs: retryAfterMs ?? 0, nextNode: "next" };
  }
  return { retry: false };
}

export function exhausted(
  spec: RequestSpec,
  dedup: Dedup,
  ambiguous: boolean,
  lastError: unknown,
): QuorumqError {
  const what = `${spec.method} ${spec.path}`;
  if (spec.mutating && ambiguous) {
    const how = dedup.kind === "session"
      ? `resume it with { resume: { session: ${dedup.ticket.session.id}, seq: ` +
        `${dedup.ticket.seq} } } while the session is open, or with the same ids`
      : dedup.kind === "key"
      ? `retry it with Idempotency-Key ${dedup.key} and the same ids`
      : "retry it with the same ids";
    const problem: Problem = {
      type: "unknown_outcome",
      title: "The outcome of the write is unknown",
      detail: `${what} failed on every attempt and may have been applied; ${how}`,
      ...(dedup.kind === "key" ? { idempotencyKey: dedup.key } : {}),
      ...(dedup.kind === "session"
        ? { session: dedup.ticket.session.id, seq: dedup.ticket.seq }
        : {}),
    };
    return new UnknownOutcome(problem, lastError instanceof QuorumqError ? lastError.status : 0, {
      cause: lastError,
    });
  }
  if (lastError instanceof QuorumqError) return lastError;
  const problem = {
    type: "network_error",
    title: "No node answered",
    detail: `${what}: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
  };
  return new NetworkError(problem, 0, { cause: lastError });
}

/** `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfterMs(value: string | null, nowMs: number): number | null {
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}

export function leaderHint(problem: Problem): string | null {
  for (const field of ["leaderUrl", "leader_url", "location"]) {
    const value = problem[field];
    if (typeof value === "string" && /^https?:\/\//.test(value)) return value;
  }
  return null;
}

/** Waits `ms` milliseconds; rejects with the abort reason when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
