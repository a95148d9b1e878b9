/**
 * Subjects and subject patterns (NATS's rules): a subject is dot-separated tokens
 * (`orders.eu.created`); a pattern may use `*` for exactly one token and `>` for one or more
 * tokens, the latter only as the last token. A wildcard is always a whole token: `ord*` is an
 * error, not a prefix match. Also the header matchers of subscriptions. Pure; shared by the
 * broker's apply-time checks and the HTTP layer's request validation, so both say the same.
 *
 * @module
 */

import type { HeaderMatch } from "./commands.ts";

/** Longest subject or pattern, in UTF-8 bytes. */
export const SUBJECT_BYTES_MAX = 255;
/** Most patterns on one subscription. */
export const FILTERS_MAX = 64;
/** Most header conditions on one subscription. */
export const HEADER_MATCH_MAX = 32;

/** UTF-8 length of a string, without encoding it. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4; // a surrogate pair: one 4-byte code point
      i++;
    } else n += 3;
  }
  return n;
}

function checkLength(what: string, s: unknown): string | undefined {
  if (typeof s !== "string") return `${what} must be a string`;
  const bytes = utf8Length(s);
  if (bytes === 0 || bytes > SUBJECT_BYTES_MAX) {
    return `${what} ${JSON.stringify(s)} must be 1..${SUBJECT_BYTES_MAX} bytes (it is ${bytes})`;
  }
  return undefined;
}

const DOT = 46, STAR = 42, GT = 62;

/**
 * Is `s` a valid subject? One pass over its characters, no allocation: apply checks every
 * published subject, and this is its hot path. ASCII only; anything else takes the full check.
 */
function plainValidSubject(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > SUBJECT_BYTES_MAX) return false;
  let tokenStart = true;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === STAR || c === GT) return false;
    if (c === DOT) {
      if (tokenStart) return false;
      tokenStart = true;
    } else tokenStart = false;
  }
  return !tokenStart;
}

/** Why `s` is not a valid published subject, or undefined. */
export function checkSubject(s: unknown): string | undefined {
  if (typeof s === "string" && plainValidSubject(s)) return undefined;
  const e = checkLength("subject", s);
  if (e) return e;
  const tokens = (s as string).split(".");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const q = JSON.stringify(s);
    if (t.length === 0) return `subject ${q}: token ${i + 1} is empty`;
    if (t.includes("*") || t.includes(">")) {
      return `subject ${q}: token ${i + 1} ("${t}") has a wildcard; a published subject has none`;
    }
  }
  return undefined;
}

/** Why `p` is not a valid pattern, or undefined. `what` names it (`filter`, `filters[2]`). */
export function checkPattern(p: unknown, what = "filter"): string | undefined {
  const e = checkLength(what, p);
  if (e) return e;
  const tokens = (p as string).split(".");
  const q = `${what} ${JSON.stringify(p)}`;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.length === 0) return `${q}: token ${i + 1} is empty`;
    if (t === ">" && i !== tokens.length - 1) {
      return `${q}: ">" must be the last token (it is token ${i + 1} of ${tokens.length})`;
    }
    if (t !== "*" && t !== ">" && (t.includes("*") || t.includes(">"))) {
      return `${q}: token ${i + 1} ("${t}") has a wildcard inside it; ` +
        `"*" and ">" must be whole tokens`;
    }
  }
  return undefined;
}

/** Checks a subscription's `filters` list. */
export function checkFilters(filters: unknown): string | undefined {
  if (!Array.isArray(filters) || filters.length === 0 || filters.length > FILTERS_MAX) {
    return `filters must be a list of 1..${FILTERS_MAX} patterns`;
  }
  for (let i = 0; i < filters.length; i++) {
    const e = checkPattern(filters[i], `filters[${i}]`);
    if (e) return e;
  }
  return undefined;
}

/** Checks a subscription's header conditions: `{ name: "value" | { exists: boolean } }`. */
export function checkHeaderMatch(h: unknown): string | undefined {
  if (typeof h !== "object" || h === null || Array.isArray(h)) {
    return "headers must be an object of header conditions";
  }
  const entries = Object.entries(h);
  if (entries.length === 0 || entries.length > HEADER_MATCH_MAX) {
    return `headers must hold 1..${HEADER_MATCH_MAX} conditions`;
  }
  for (const [name, cond] of entries) {
    if (typeof cond === "string") continue;
    const ok = typeof cond === "object" && cond !== null && !Array.isArray(cond) &&
      Object.keys(cond).length === 1 && typeof (cond as { exists?: unknown }).exists === "boolean";
    if (!ok) {
      return `headers.${name} must be a string (equal) or { "exists": true | false }`;
    }
  }
  return undefined;
}

/** Does a message with `headers` meet every condition of `match`? */
export function headersMatch(
  match: HeaderMatch,
  headers: Readonly<Record<string, string>> | undefined,
): boolean {
  for (const name in match) {
    const cond = match[name];
    const v = headers === undefined || !Object.hasOwn(headers, name) ? undefined : headers[name];
    if (typeof cond === "string") {
      if (v !== cond) return false;
    } else if ((v !== undefined) !== cond.exists) return false;
  }
  return true;
}

/** Does a (valid) subject match a (valid) pattern? One pattern; many go through the index. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== "*" && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
