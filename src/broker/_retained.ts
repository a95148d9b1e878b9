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
  /** The bytes of the bodies held (what `maxRetainedBytes` bounds). */
  #bytes = 0;

  get size(): number {
    return this.bySubject.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  set(subject: string, m: RetainedMsg): void {
    this.clear(subject);
    this.bySubject.set(subject, m);
    this.#bytes += m.body.length;
  }

  clear(subject: string): void {
    const old = this.bySubject.get(subject);
    if (old === undefined) return;
    this.bySubject.delete(subject);
    this.#bytes -= old.body.length;
  }

  /**
   * Why a retained message of `bodyBytes` for `subject` does not fit the caps, or undefined.
   * Messages past their TTL are dropped first (they are never read again), so they never hold
   * room; that walk happens only at the cap.
   */
  refusal(
    subject: string,
    bodyBytes: number,
    caps: { readonly maxRetained?: number; readonly maxRetainedBytes?: number },
    now: number,
  ): string | undefined {
    const fits = () => {
      const old = this.bySubject.get(subject);
      const count = this.bySubject.size + (old === undefined ? 1 : 0);
      const bytes = this.#bytes - (old?.body.length ?? 0) + bodyBytes;
      if (caps.maxRetained !== undefined && count > caps.maxRetained) {
        return `the topic holds its maxRetained (${caps.maxRetained}) retained messages`;
      }
      if (caps.maxRetainedBytes !== undefined && bytes > caps.maxRetainedBytes) {
        return `the retained messages would exceed maxRetainedBytes (${caps.maxRetainedBytes})`;
      }
      return undefined;
    };
    if (fits() === undefined) return undefined;
    for (const [s, m] of this.bySubject) if (m.ttlAt <= now) this.clear(s);
    return fits();
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
      this.set(subject, {
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
