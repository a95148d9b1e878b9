/**
 * `MemoryLogStore`: the LogStore port in memory. Same contract as `FileLogStore` except that
 * nothing survives the process: "durable" means "held by this object".
 *
 * @module
 */

import type { Entry } from "../raft/mod.ts";
import { assertContiguous, type LogStore } from "./log_store.ts";

/** The log in an array. Operations complete synchronously but still settle in call order. */
export class MemoryLogStore implements LogStore {
  #entries: Entry[] = [];
  #first = 1;
  #closed = false;

  load(): Promise<{ entries: Entry[] }> {
    return this.#run(() => ({ entries: this.#entries.slice() }));
  }

  append(entries: readonly Entry[]): Promise<void> {
    return this.#run(() => {
      assertContiguous(entries, "Cannot append to the Raft log");
      if (entries.length === 0) return;
      const start = entries[0].index;
      const last = this.lastIndex();
      if (!Number.isSafeInteger(start) || start < 1) {
        throw new Error(`Cannot append entry ${start} to the Raft log: indexes start at 1`);
      }
      if (this.#entries.length === 0) {
        this.#first = start; // an empty log starts anywhere
      } else if (start > last + 1) {
        throw new Error(`Cannot append entry ${start} to the Raft log: it ends at index ${last}`);
      } else if (start < this.#first) {
        throw new Error(
          `Cannot append entry ${start} to the Raft log: entries before ${this.#first} are compacted`,
        );
      }
      const prevTerm = this.term(start - 1);
      if (prevTerm !== undefined && entries[0].term < prevTerm) {
        throw new Error(
          `Cannot append entry ${start} with term ${entries[0].term} after term ${prevTerm}`,
        );
      }
      this.#entries.length = start - this.#first;
      for (const e of entries) this.#entries.push(e);
    });
  }

  compact(throughIndex: number): Promise<void> {
    return this.#run(() => {
      if (throughIndex < this.#first) return;
      const drop = Math.min(throughIndex + 1 - this.#first, this.#entries.length);
      this.#entries.splice(0, drop);
      this.#first = throughIndex + 1;
    });
  }

  reset(nextIndex: number): Promise<void> {
    return this.#run(() => {
      if (!Number.isSafeInteger(nextIndex) || nextIndex < 1) {
        throw new Error(`Cannot reset the Raft log to index ${nextIndex}`);
      }
      this.#entries = [];
      this.#first = nextIndex;
    });
  }

  firstIndex(): number {
    return this.#first;
  }

  lastIndex(): number {
    return this.#first + this.#entries.length - 1;
  }

  term(index: number): number | undefined {
    return this.#entries[index - this.#first]?.term;
  }

  readEntries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (this.#closed) throw new Error("Cannot read the Raft log: it is closed");
    if (lo >= hi) return [];
    if (lo < this.#first || hi - 1 > this.lastIndex()) {
      throw new Error(
        `Cannot read Raft log entries ${lo}..${hi - 1}: the log holds ${this.#first}..` +
          `${this.lastIndex()}`,
      );
    }
    let end = lo;
    let bytes = 0;
    while (end < hi) {
      bytes += this.#entries[end - this.#first].data.length + 24;
      if (bytes > maxBytes && end > lo) break;
      end++;
    }
    return this.#entries.slice(lo - this.#first, end - this.#first);
  }

  close(): Promise<void> {
    return this.#run(() => {
      this.#closed = true;
    });
  }

  #run<T>(f: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("Cannot use the Raft log: it is closed"));
    try {
      return Promise.resolve(f());
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
