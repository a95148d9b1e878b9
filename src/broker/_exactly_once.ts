/**
 * The exactly-once layer of `apply`: session commands, writes in a session (a repeated
 * (session, seq) answers the stored answer and is never applied again), and Idempotency-Keys
 * (one-shot answers under a caller's key). Everything else goes straight to `executeCommand`.
 * Folder-private.
 *
 * @module
 */

import type { Command, Failure, Proposal, Result, SessionRef } from "./commands.ts";
import { answers, compactAnswer, expandAnswer } from "./_answers.ts";
import {
  SESSION_BASE_BYTES,
  SESSION_TIMEOUT_MS,
  SESSION_TIMEOUT_MS_MAX,
  type SessionTable,
} from "./_sessions.ts";
import type { IdemTable } from "./_ids.ts";
import type { ByOrd } from "./_answers.ts";
import { invalid } from "./validate.ts";

/** The bounds of sessions and keys: fixed per state, carried in snapshots. */
export interface ExactlyOnceLimits {
  readonly sessionsMax: number;
  readonly sessionBytesMax: number;
  /** Sessions and keys together. */
  readonly bytesMax: number;
}

/** What this layer needs of the broker state. */
export interface ExactlyOnceHost {
  readonly sessions: SessionTable;
  readonly idem: IdemTable;
  readonly limits: ExactlyOnceLimits;
  readonly byOrd: ByOrd;
}

type Executor = (index: number, cmd: Command, now: number, answers: boolean) => Result;

/**
 * Applies one proposal at entry time `now` (timed events already ran). `answers`: whether anybody
 * reads the answer (`BrokerState.applyEntry`); a write in a session or under an Idempotency-Key
 * makes its answer whatever it is, since the answer is stored (on every replica alike).
 */
export function applyExactlyOnce(
  host: ExactlyOnceHost,
  execute: Executor,
  index: number,
  env: Proposal,
  now: number,
  answers = true,
): Result {
  host.sessions.expire(now);
  host.idem.expire(now);
  const owner = typeof env.owner === "string" ? env.owner : "";
  const cmd = env.cmd;
  switch (cmd.op) {
    case "session_open":
    case "session_keepalive":
    case "session_close":
      return sessionCommand(host, index, cmd, owner, now);
    case "idempotency_release": {
      if (typeof cmd.key !== "string") return invalid("key must be a string");
      const key = owner === "" ? cmd.key : `${owner}\u0000${cmd.key}`;
      return { ok: true, released: host.idem.delete(key) };
    }
  }
  if (env.session !== undefined) {
    return inSession(host, execute, index, env.session, cmd, owner, now);
  }
  if (env.idem !== undefined) return withKey(host, execute, index, env.idem, cmd, owner, now);
  return execute(index, cmd, now, answers);
}

/** The bound every new session, key or stored answer is checked against. */
function full(host: ExactlyOnceHost, adding: number): boolean {
  return host.sessions.bytes + host.idem.bytes + adding > host.limits.bytesMax;
}

function sessionsFull(detail: string): Failure {
  return { ok: false, reason: "sessions_full", detail: `${detail}; nothing was applied` };
}

function sessionExpired(id: unknown): Failure {
  return {
    ok: false,
    reason: "session_expired",
    detail: `Session ${id} is not open (it expired, was closed, never existed, or belongs to ` +
      "another caller); nothing was applied: open a new session",
  };
}

type SessionCommand = Extract<
  Command,
  { op: "session_open" | "session_keepalive" | "session_close" }
>;

function sessionCommand(
  host: ExactlyOnceHost,
  index: number,
  cmd: SessionCommand,
  owner: string,
  now: number,
): Result {
  const { sessions, limits } = host;
  if (cmd.op === "session_open") {
    const timeoutMs = cmd.timeoutMs ?? SESSION_TIMEOUT_MS;
    if (
      !Number.isSafeInteger(timeoutMs) || timeoutMs < 1000 || timeoutMs > SESSION_TIMEOUT_MS_MAX
    ) {
      return invalid(`timeoutMs must be an integer in 1000..${SESSION_TIMEOUT_MS_MAX}`);
    }
    if (sessions.byId.size >= limits.sessionsMax) {
      return sessionsFull(`${limits.sessionsMax} sessions are open, the most allowed`);
    }
    if (full(host, SESSION_BASE_BYTES + owner.length)) {
      return sessionsFull(`sessions and Idempotency-Keys hold ${limits.bytesMax} bytes`);
    }
    sessions.open(index, owner, timeoutMs, now);
    return { ok: true, session: index, timeoutMs };
  }
  const s = sessions.live(cmd.session, owner, now);
  if (cmd.op === "session_close") {
    // Idempotent: closing a session that is not open (or not the caller's) changes nothing.
    if (s !== undefined) sessions.close(s);
    return { ok: true };
  }
  if (s === undefined) return sessionExpired(cmd.session);
  sessions.touch(s, now);
  return { ok: true, expiresAt: now + s.timeoutMs };
}

function validRef(ref: SessionRef): boolean {
  return typeof ref === "object" && ref !== null && Number.isSafeInteger(ref.id) &&
    Number.isSafeInteger(ref.seq) && ref.seq >= 1 && Number.isSafeInteger(ref.lowest) &&
    ref.lowest >= 0 && ref.lowest <= ref.seq;
}

function inSession(
  host: ExactlyOnceHost,
  execute: Executor,
  index: number,
  ref: SessionRef,
  cmd: Command,
  owner: string,
  now: number,
): Result {
  const { sessions, limits } = host;
  if (!validRef(ref)) {
    return invalid("session must carry integers id, seq >= 1 and lowest in 0..seq");
  }
  const s = sessions.live(ref.id, owner, now);
  if (s === undefined) return sessionExpired(ref.id);
  sessions.advance(s, ref.lowest);
  sessions.touch(s, now);
  const stored = s.answers.get(ref.seq);
  if (stored !== undefined) {
    if (stored.op !== cmd.op || !answers(cmd, stored.answer)) {
      return {
        ok: false,
        reason: "idempotency_conflict",
        detail: `Session ${ref.id} seq ${ref.seq} was used with another request`,
      };
    }
    return { ...expandAnswer(cmd, stored.answer, host.byOrd), replayed: true } as Result;
  }
  if (ref.seq < s.lowest) {
    return invalid(
      `seq ${ref.seq} of session ${ref.id} is below ${s.lowest}: the client acknowledged its ` +
        "answer, which is dropped; nothing was applied",
    );
  }
  if (s.bytes >= limits.sessionBytesMax) {
    return sessionsFull(
      `session ${ref.id} holds ${s.bytes} bytes of answers its client has not acknowledged`,
    );
  }
  if (full(host, 0)) {
    return sessionsFull(`sessions and Idempotency-Keys hold ${limits.bytesMax} bytes`);
  }
  const result = execute(index, cmd, now, true);
  sessions.store(s, ref.seq, cmd.op, compactAnswer(cmd, result, host.byOrd));
  return result;
}

function withKey(
  host: ExactlyOnceHost,
  execute: Executor,
  index: number,
  idem: { readonly key: string; readonly fingerprint: string },
  cmd: Command,
  owner: string,
  now: number,
): Result {
  const { idem: table, limits } = host;
  if (typeof idem.key !== "string" || typeof idem.fingerprint !== "string") {
    return invalid("idem must carry a string key and fingerprint");
  }
  const key = owner === "" ? idem.key : `${owner}\u0000${idem.key}`;
  const stored = table.get(key);
  if (stored !== undefined) {
    if (stored.fingerprint !== idem.fingerprint) {
      return {
        ok: false,
        reason: "idempotency_conflict",
        detail: `Idempotency-Key ${idem.key} was used with another request`,
      };
    }
    return { ...expandAnswer(cmd, stored.result, host.byOrd), replayed: true } as Result;
  }
  if (table.byKey.size >= table.keysMax) {
    return sessionsFull(`${table.keysMax} Idempotency-Keys are held, the most allowed`);
  }
  if (full(host, 0)) {
    return sessionsFull(`sessions and Idempotency-Keys hold ${limits.bytesMax} bytes`);
  }
  const result = execute(index, cmd, now, true);
  table.put({
    key,
    fingerprint: idem.fingerprint,
    result: compactAnswer(cmd, result, host.byOrd),
    expiresAt: now + table.ttlMs,
  });
  return result;
}

/**
 * Whether a write with this session place or Idempotency-Key already has a stored answer (a
 * repeat would be answered from it): for a long-poll receive, which must not wait first then.
 */
export function hasStoredAnswer(
  host: ExactlyOnceHost,
  p: { readonly idemKey?: string; readonly session?: SessionRef; readonly owner?: string },
  now: number,
): boolean {
  const owner = p.owner ?? "";
  if (p.session !== undefined) {
    return host.sessions.live(p.session.id, owner, now)?.answers.has(p.session.seq) === true;
  }
  if (p.idemKey === undefined) return false;
  return host.idem.get(owner === "" ? p.idemKey : `${owner}\u0000${p.idemKey}`) !== undefined;
}
