/**
 * The MQTT 5 options of a connection's topic filters that act on each delivery: "retain as
 * published" and No Local (3.8.3.1). No Local concerns the subscriber's own session (the same
 * client id), whose one connection publishes too: while the session has a No Local filter, its
 * messages carry `FROM_HEADER` with the session's claim key, and a delivery that carries the
 * receiving session's own key goes only through a filter without No Local. Nothing is added to a
 * message while no filter asks for it. A persistent session keeps them with its claim
 * (`SessionClaim.saveData`), restored when it resumes.
 *
 * @module
 */

import type { ISubscribePacket } from "mqtt-packet";
import { FROM_HEADER } from "./payload.ts";
import type { KeptOptions } from "./session.ts";
import { topicMatches } from "./topics.ts";

export class FilterOptions {
  /** v5 filters subscribed with "retain as published". */
  readonly retainAsPublished = new Set<string>();
  /** v5 filters subscribed with No Local. */
  readonly noLocal = new Set<string>();
  /** The options last kept with the session (`kept`), as JSON. */
  #kept = JSON.stringify({ nl: [], rap: [] });

  constructor(
    /** The session's claim key: what its messages carry while it has a No Local filter. */
    readonly key: string,
  ) {}

  /** A SUBSCRIBE's options for `filter` (a v3.1.1 one has none). */
  set(filter: string, options: { rap?: boolean; nl?: boolean }, v5: boolean): void {
    if (v5 && options.rap === true) this.retainAsPublished.add(filter);
    else this.retainAsPublished.delete(filter);
    if (v5 && options.nl === true) this.noLocal.add(filter);
    else this.noLocal.delete(filter);
  }

  /** The sets, for a checkpoint. */
  sets(): Set<string>[] {
    return [this.retainAsPublished, this.noLocal];
  }

  /** What a persistent session keeps of them (`SessionData`), remembered for `changed`. */
  kept(): KeptOptions {
    const kept = { nl: [...this.noLocal].sort(), rap: [...this.retainAsPublished].sort() };
    this.#kept = JSON.stringify(kept);
    return kept;
  }

  /** Whether they changed since `kept` was last asked (or since they were restored). */
  changed(): boolean {
    const now = { nl: [...this.noLocal].sort(), rap: [...this.retainAsPublished].sort() };
    return JSON.stringify(now) !== this.#kept;
  }

  /** A resumed session's kept options, of the filters it still has (`has`). */
  restore(kept: KeptOptions, has: (filter: string) => boolean): void {
    for (const f of kept.nl) if (has(f)) this.noLocal.add(f);
    for (const f of kept.rap) if (has(f)) this.retainAsPublished.add(f);
    this.kept();
  }

  drop(filter: string): void {
    this.retainAsPublished.delete(filter);
    this.noLocal.delete(filter);
  }

  /** What the session's messages carry in `FROM_HEADER` now (undefined: nothing). */
  tag(): string | undefined {
    return this.noLocal.size > 0 ? this.key : undefined;
  }

  /** Whether a filter of `filters` takes a message on `topic` with `headers` to the session. */
  matches(filters: Set<string>, topic: string, headers: Record<string, string>): boolean {
    const own = this.noLocal.size > 0 && headers[FROM_HEADER] === this.key;
    for (const f of filters) {
      if (topicMatches(f, topic) && !(own && this.noLocal.has(f))) return true;
    }
    return false;
  }

  /** Whether a retained message's delivery on `topic` keeps RETAIN (retain as published). */
  retained(topic: string): boolean {
    if (this.retainAsPublished.size === 0) return false;
    for (const f of this.retainAsPublished) if (topicMatches(f, topic)) return true;
    return false;
  }
}

/** A copy of `sets`; the function it answers puts each set back as it was then. */
export function checkpoint(sets: readonly Set<string>[]): () => void {
  const copies = sets.map((set) => [...set]);
  return () =>
    sets.forEach((set, i) => {
      set.clear();
      for (const x of copies[i]) set.add(x);
    });
}

/** A v5 SUBSCRIBE's shared subscription with No Local, if any (a protocol error, 3.8.3-4). */
export function sharedNoLocal(p: ISubscribePacket): string | undefined {
  return p.subscriptions.find((s) => s.nl === true && s.topic.startsWith("$share/"))?.topic;
}
