/**
 * Retained messages of a topic: the last message published with `retain: "set"` per subject
 * (MQTT's retained messages), read by new subscribers. A `retain: "clear"` publish drops its
 * subject's. A retained message past its TTL is not read and goes at the next change of its
 * subject. Folder-private.
 *
 * @module
 */

import type { TopicMessage } from "./commands.ts";
import { subjectMatches } from "./subject.ts";

/** One retained message (its own copy of the body: the topic's may leave by retention). */
export interface RetainedMsg {
  readonly seq: number;
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly publishedAt: number;
  /** Entry time it expires at (its TTL), or Infinity. */
  readonly ttlAt: number;
}

/** A snapshot row: [subject, seq, id, body, headers | null, publishedAt, ttlAt]. */
export type RetainedRow = [
  string,
  number,
  string,
  Uint8Array,
  Record<string, string> | null,
  number,
  number,
];

export class RetainedTable {
  readonly bySubject = new Map<string, RetainedMsg>();

  get size(): number {
    return this.bySubject.size;
  }

  set(subject: string, m: RetainedMsg): void {
    this.bySubject.set(subject, m);
  }

  clear(subject: string): void {
    this.bySubject.delete(subject);
  }

  /** The live retained messages whose subject matches `pattern` (all: no pattern), by subject. */
  read(pattern: string | undefined, now: number): TopicMessage[] {
    const out: TopicMessage[] = [];
    for (const [subject, m] of this.bySubject) {
      if (m.ttlAt <= now) continue;
      if (pattern !== undefined && !subjectMatches(pattern, subject)) continue;
      out.push({
        seq: m.seq,
        id: m.id,
        body: m.body,
        headers: m.headers ?? {},
        subject,
        publishedAt: m.publishedAt,
      });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  rows(): RetainedRow[] {
    return [...this.bySubject].map(([subject, m]) => [
      subject,
      m.seq,
      m.id,
      m.body,
      m.headers === undefined ? null : { ...m.headers },
      m.publishedAt,
      m.ttlAt,
    ]);
  }

  restore(rows: readonly RetainedRow[]): void {
    for (const [subject, seq, id, body, headers, publishedAt, ttlAt] of rows) {
      this.bySubject.set(subject, {
        seq,
        id,
        body: new Uint8Array(body),
        headers: headers ?? undefined,
        publishedAt,
        ttlAt,
      });
    }
  }
}
