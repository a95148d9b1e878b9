/**
 * MQTT topic names and filters as quorumq subjects and patterns (docs/mqtt.md). A level becomes a
 * token: `/` becomes `.`; the characters a token cannot hold are escaped with `%` (`%` → `%25`,
 * `.` → `%2E`, `*` → `%2A`, `>` → `%3E`) and an empty level becomes a lone `%`. In a filter `+`
 * becomes `*` and `#` becomes `>`. The mapping is one to one, so a subject maps back to its topic.
 * Pure.
 *
 * @module
 */

import { checkPattern, checkSubject } from "../broker/mod.ts";

function escapeLevel(level: string): string {
  if (level === "") return "%";
  return level.replaceAll("%", "%25").replaceAll(".", "%2E").replaceAll("*", "%2A")
    .replaceAll(">", "%3E");
}

function unescapeLevel(token: string): string {
  if (token === "%") return "";
  return token.replaceAll("%3E", ">").replaceAll("%2A", "*").replaceAll("%2E", ".")
    .replaceAll("%25", "%");
}

/**
 * Characters a topic name may not hold: NUL (MQTT 1.5.4-2), the control characters and the
 * noncharacters (1.5.4-3: a receiver MAY close the connection, and libmosquitto's clients do).
 */
// deno-lint-ignore no-control-regex -- control characters are what it finds
const UNSENDABLE = /[\u0000-\u001f\u007f-\u009f\p{Noncharacter_Code_Point}]/u;

/** Whether `text` holds a character a client may close on (see `UNSENDABLE`). */
export function hasUnsendable(text: string): boolean {
  return UNSENDABLE.test(text);
}

/**
 * Why `topic` is not a valid MQTT topic name, or undefined: for a PUBLISH from a client, and for
 * one to a client (a subject an HTTP publisher chose may stand for no valid topic name).
 */
export function checkTopicName(topic: string): string | undefined {
  if (topic.length === 0) return "a topic name is not empty";
  if (topic.includes("+") || topic.includes("#")) return "a topic name has no wildcard";
  if (hasUnsendable(topic)) return "a topic name has no NUL, control character or noncharacter";
  return undefined;
}

/** The subject of a topic name, or an error text (invalid, or longer than a subject may be). */
export function topicToSubject(topic: string): { subject: string } | { error: string } {
  const bad = checkTopicName(topic);
  if (bad !== undefined) return { error: bad };
  const subject = topic.split("/").map(escapeLevel).join(".");
  const e = checkSubject(subject);
  return e === undefined ? { subject } : { error: e };
}

/** The topic name a subject stands for (the inverse of `topicToSubject`). */
export function subjectToTopic(subject: string): string {
  return subject.split(".").map(unescapeLevel).join("/");
}

/**
 * The topic name of a subject, when it is one MQTT lets a client be sent; else undefined (an HTTP
 * publisher's subject `%`, `a.+` or with a control character): such a message is not for MQTT
 * sessions. Sent, a client closes its connection and, with a persistent session, is sent it
 * again on every reconnect.
 */
export function deliverableTopic(subject: string): string | undefined {
  const topic = subjectToTopic(subject);
  return checkTopicName(topic) === undefined ? topic : undefined;
}

/** Why `filter` is not a valid MQTT topic filter, or undefined. */
export function checkTopicFilter(filter: string): string | undefined {
  if (filter.length === 0) return "a topic filter is not empty";
  if (filter.includes("\u0000")) return "a topic filter has no NUL";
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes("#") && (l !== "#" || i !== levels.length - 1)) {
      return `"#" must be a whole level and the last one`;
    }
    if (l.includes("+") && l !== "+") return `"+" must be a whole level`;
  }
  return undefined;
}

/**
 * The subject patterns of a topic filter: `a/#` matches `a` itself too (its parent level), so it
 * is two patterns, `a` and `a.>`.
 */
export function filterToPatterns(filter: string): { patterns: string[] } | { error: string } {
  const bad = checkTopicFilter(filter);
  if (bad !== undefined) return { error: bad };
  const levels = filter.split("/");
  const tokens = levels.map((l) => l === "+" ? "*" : l === "#" ? ">" : escapeLevel(l));
  const patterns = [tokens.join(".")];
  if (levels.length > 1 && levels[levels.length - 1] === "#") {
    patterns.push(tokens.slice(0, -1).join("."));
  }
  for (const p of patterns) {
    const e = checkPattern(p);
    if (e !== undefined) return { error: e };
  }
  return { patterns };
}

/**
 * Does an MQTT topic name match a filter, by the MQTT rules: `+` one level, `#` the rest (its
 * parent included), and a topic starting with `$` is not matched by a wildcard at the first level.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** The topic filter a subject pattern stands for (the inverse of `filterToPatterns`' first). */
export function patternToFilter(pattern: string): string {
  return pattern.split(".").map((t) => t === "*" ? "+" : t === ">" ? "#" : unescapeLevel(t))
    .join("/");
}

/** `$share/{group}/{filter}`: its group and filter, or undefined when it is not a valid one. */
export function parseShared(topic: string): { group: string; filter: string } | undefined {
  if (!topic.startsWith("$share/")) return undefined;
  const rest = topic.slice("$share/".length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return undefined;
  const group = rest.slice(0, slash);
  const filter = rest.slice(slash + 1);
  if (group.includes("+") || group.includes("#") || checkTopicFilter(filter) !== undefined) {
    return undefined;
  }
  return { group, filter };
}
