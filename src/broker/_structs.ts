/**
 * Small data structures of the broker: a number min-heap, an event heap, a dense seq table and
 * a slab allocator for message bodies. Folder-private.
 *
 * @module
 */

/** A binary min-heap of numbers (seqs, times). Entries may be stale: callers validate on pop. */
export class NumberHeap {
  #a: number[] = [];

  get size(): number {
    return this.#a.length;
  }

  peek(): number | undefined {
    return this.#a[0];
  }

  /** The entries in heap order (for read-only scans). */
  values(): readonly number[] {
    return this.#a;
  }

  push(x: number): void {
    const a = this.#a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= x) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = x;
  }

  pop(): number | undefined {
    const a = this.#a;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r] < a[l] ? r : l;
        if (a[c] >= last) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

/** Entries per chunk of `SeqQueue`'s run: 32 KiB of float64 each. */
const RUN_CHUNK = 4096;

/**
 * A min-queue of seqs with `NumberHeap`'s interface and pops: the smallest entry first, always.
 * Seqs mostly come in ascending order (publishes), so those are kept in an ascending run popped
 * from its front in O(1); one below the run's last (a nack, a lease end, a delay's end) goes to a
 * heap beside it. A consumer's receives popped a heap of 70,000 ready seqs at 0.2-0.5 µs each
 * on every node. The run is kept in fixed chunks (a new one when the last is full, the first
 * dropped once popped through): as one growing array it was copied at every growth (~50 bytes
 * per publish on every node, in large arrays the old generation kept until a full collection)
 * and again at every compaction of its popped front.
 */
export class SeqQueue {
  /** The run, ascending: `#chunks[0]` from `#head`, up to `#tail` of the last chunk. */
  #chunks: Float64Array[] = [];
  #head = 0;
  #tail = RUN_CHUNK;
  #count = 0;
  /** The run's last entry (while `#count > 0`). */
  #last = 0;
  readonly #heap = new NumberHeap();

  get size(): number {
    return this.#count + this.#heap.size;
  }

  peek(): number | undefined {
    const h = this.#heap.peek();
    if (this.#count === 0) return h;
    const r = this.#chunks[0][this.#head];
    return h !== undefined && h < r ? h : r;
  }

  /** The entries, in no particular order (for read-only scans, which may stop early). */
  *values(): Iterable<number> {
    const chunks = this.#chunks, last = chunks.length - 1;
    for (let c = 0; c <= last && this.#count > 0; c++) {
      const chunk = chunks[c], to = c === last ? this.#tail : RUN_CHUNK;
      for (let i = c === 0 ? this.#head : 0; i < to; i++) yield chunk[i];
    }
    yield* this.#heap.values();
  }

  push(x: number): void {
    if (this.#count > 0 && x < this.#last) {
      this.#heap.push(x);
      return;
    }
    if (this.#tail === RUN_CHUNK) {
      this.#chunks.push(new Float64Array(RUN_CHUNK));
      this.#tail = 0;
    }
    this.#chunks[this.#chunks.length - 1][this.#tail++] = x;
    this.#count++;
    this.#last = x;
  }

  pop(): number | undefined {
    const h = this.#heap.peek();
    if (this.#count === 0 || (h !== undefined && h < this.#chunks[0][this.#head])) {
      return this.#heap.pop();
    }
    const x = this.#chunks[0][this.#head++];
    if (--this.#count === 0) {
      // Empty: start again in the last chunk (the only one left) from its front.
      const keep = this.#chunks[this.#chunks.length - 1];
      this.#chunks = [keep];
      this.#head = this.#tail = 0;
    } else if (this.#head === RUN_CHUNK) {
      this.#chunks.shift();
      this.#head = 0;
    }
    return x;
  }
}

/** Event kinds, in tie-break order. Append-only (they order events inside one entry time). */
export const EventKind = { DelayEnd: 0, LeaseEnd: 1, Ttl: 2, TopicAge: 3, ClaimEnd: 4 } as const;
export type EventKind = typeof EventKind[keyof typeof EventKind];

/**
 * A timed event. Events are never removed when they become moot (an ack, an extend): they are
 * validated against the message when popped, so a stale event is a no-op. The order key
 * (at, ord, seq, kind) is total and derived from state only, which keeps processing identical
 * after a snapshot restore that rebuilds only the live events.
 */
export interface TimedEvent {
  readonly at: number;
  /** The queue, subscription or topic ordinal. */
  readonly ord: number;
  readonly seq: number;
  readonly kind: EventKind;
  /** LeaseEnd: the attempt whose lease ends. */
  readonly attempt: number;
}

function eventLess(x: TimedEvent, y: TimedEvent): boolean {
  if (x.at !== y.at) return x.at < y.at;
  if (x.ord !== y.ord) return x.ord < y.ord;
  if (x.seq !== y.seq) return x.seq < y.seq;
  if (x.kind !== y.kind) return x.kind < y.kind;
  return x.attempt < y.attempt;
}

/**
 * A min-queue of timed events by (at, ord, seq, kind, attempt), as a binary heap pops them. Events
 * mostly come in that order (a lease ends `leaseMs` after its entry's time, which never goes
 * back; 99% of a chaos log's 231,868 events did), so those are kept in an ascending run popped
 * from its front in O(1); one below the run's last goes to a heap beside it, as `SeqQueue` does
 * with seqs. A heap alone of ~27,000 events compared ~30 events per pop, ~6% of a node's replay.
 */
export class EventHeap {
  /** Ascending from `#head`; entries before `#head` are popped. */
  #run: TimedEvent[] = [];
  #head = 0;
  #a: TimedEvent[] = [];

  get size(): number {
    return this.#run.length - this.#head + this.#a.length;
  }

  peek(): TimedEvent | undefined {
    const h = this.#a[0];
    if (this.#head === this.#run.length) return h;
    const r = this.#run[this.#head];
    return h !== undefined && eventLess(h, r) ? h : r;
  }

  push(e: TimedEvent): void {
    const run = this.#run;
    if (this.#head === run.length || !eventLess(e, run[run.length - 1])) run.push(e);
    else this.#heapPush(e);
  }

  pop(): TimedEvent | undefined {
    const run = this.#run;
    const h = this.#a[0];
    if (this.#head === run.length || (h !== undefined && eventLess(h, run[this.#head]))) {
      return this.#heapPop();
    }
    const e = run[this.#head++];
    if (this.#head === run.length) {
      run.length = 0;
      this.#head = 0;
    } else if (this.#head >= 4096 && this.#head * 2 >= run.length) {
      this.#run = run.slice(this.#head);
      this.#head = 0;
    }
    return e;
  }

  #heapPush(e: TimedEvent): void {
    const a = this.#a;
    let i = a.length;
    a.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!eventLess(e, a[p])) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = e;
  }

  #heapPop(): TimedEvent | undefined {
    const a = this.#a;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && eventLess(a[r], a[l]) ? r : l;
        if (!eventLess(a[c], last)) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

/** A gap this long (and longer than the table's count) turns a SeqTable sparse. */
const SPARSE_GAP = 1024;

/**
 * Values by increasing seq, stored densely in an array from the lowest live seq: 8 bytes a slot
 * instead of a Map entry. Gaps (settled messages) are `undefined` until the head passes them.
 * An append far past the last seq (a filtered subscription gets few of its topic's seqs) would
 * fill thousands of empty slots, so the table turns sparse instead: a Map in seq order (appends
 * only increase), until it is empty again.
 */
export class SeqTable<T> {
  #a: (T | undefined)[] = [];
  #head = 0;
  /** The seq stored at `#a[#head]`. */
  #base = 0;
  #count = 0;
  /** Sparse mode: the values by seq, in seq order; `#last` is the highest appended. */
  #sparse: Map<number, T> | undefined;
  #last = 0;

  get count(): number {
    return this.#count;
  }

  get(seq: number): T | undefined {
    if (this.#sparse !== undefined) return this.#sparse.get(seq);
    const i = seq - this.#base + this.#head;
    return i >= this.#head && i < this.#a.length ? this.#a[i] : undefined;
  }

  /** Stores a value at a seq above every seq stored so far. */
  append(seq: number, v: T): void {
    if (this.#count === 0) {
      this.#a = [];
      this.#head = 0;
      this.#base = seq;
      this.#sparse = undefined;
    }
    if (this.#sparse !== undefined) {
      if (seq <= this.#last) throw new Error(`Cannot append seq ${seq}: not above ${this.#last}`);
      this.#sparse.set(seq, v);
      this.#last = seq;
      this.#count++;
      return;
    }
    const i = seq - this.#base + this.#head;
    if (i < this.#a.length) {
      throw new Error(`Cannot append seq ${seq}: not above the last stored seq`);
    }
    if (i - this.#a.length > SPARSE_GAP && i - this.#a.length > this.#count) {
      this.#toSparse();
      this.append(seq, v);
      return;
    }
    while (this.#a.length < i) this.#a.push(undefined);
    this.#a.push(v);
    this.#count++;
  }

  /** Moves the live values into a Map (in seq order); the cost is paid by the gap it skips. */
  #toSparse(): void {
    const m = new Map<number, T>();
    for (let i = this.#head; i < this.#a.length; i++) {
      const v = this.#a[i];
      if (v !== undefined) m.set(this.#base + i - this.#head, v);
    }
    this.#last = this.#base + this.#a.length - 1 - this.#head;
    this.#sparse = m;
    this.#a = [];
    this.#head = 0;
  }

  delete(seq: number): void {
    if (this.#sparse !== undefined) {
      if (this.#sparse.delete(seq)) this.#count--;
      return;
    }
    const i = seq - this.#base + this.#head;
    if (i < this.#head || i >= this.#a.length || this.#a[i] === undefined) return;
    this.#a[i] = undefined;
    this.#count--;
    while (this.#head < this.#a.length && this.#a[this.#head] === undefined) {
      this.#head++;
      this.#base++;
    }
    // Drop the dead prefix once it is the larger half, so memory follows the live span.
    if (this.#head > 1024 && this.#head * 2 > this.#a.length) {
      this.#a = this.#a.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Live values in seq order. */
  *values(): IterableIterator<T> {
    if (this.#sparse !== undefined) {
      yield* this.#sparse.values();
      return;
    }
    for (let i = this.#head; i < this.#a.length; i++) {
      const v = this.#a[i];
      if (v !== undefined) yield v;
    }
  }

  /** Live values with a seq of at least `seq`, in seq order. */
  *valuesFrom(seq: number): IterableIterator<T> {
    for (let i = Math.max(this.#head, seq - this.#base + this.#head); i < this.#a.length; i++) {
      const v = this.#a[i];
      if (v !== undefined) yield v;
    }
  }

  /** Calls `fn` for each live value in seq order (faster than `values()` on hot paths). */
  forEach(fn: (v: T) => void): void {
    if (this.#sparse !== undefined) {
      for (const v of this.#sparse.values()) fn(v);
      return;
    }
    const a = this.#a;
    for (let i = this.#head; i < a.length; i++) {
      const v = a[i];
      if (v !== undefined) fn(v);
    }
  }

  /** The lowest stored value, if any. */
  first(): T | undefined {
    if (this.#count === 0) return undefined;
    if (this.#sparse !== undefined) { for (const v of this.#sparse.values()) return v; }
    return this.#a[this.#head];
  }
}

const SLAB_BYTES = 256 * 1024;
const SLAB_ITEM_MAX_BYTES = 16 * 1024;

/**
 * Copies message bodies into shared 256 KiB slabs: one Uint8Array view per message would cost
 * ~100 bytes of overhead each. A slab is freed by the GC when no message refers to it any more
 * (messages hold the slab and an offset), so a long-lived straggler can pin one slab.
 */
export class SlabAllocator {
  #slab = new Uint8Array(SLAB_BYTES);
  #used = 0;
  #last: Uint8Array = this.#slab;

  /**
   * Copies `bytes`; returns their offset in `lastBuf`, where they now live (two values, not an
   * object: every node stores every message's body here).
   */
  put(bytes: Uint8Array): number {
    const n = bytes.length;
    if (n > SLAB_ITEM_MAX_BYTES) {
      this.#last = bytes.slice();
      return 0;
    }
    if (this.#used + n > SLAB_BYTES) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#used = 0;
    }
    const off = this.#used;
    this.#slab.set(bytes, off);
    this.#used += n;
    this.#last = this.#slab;
    return off;
  }

  /** The buffer the last `put` copied into. */
  get lastBuf(): Uint8Array {
    return this.#last;
  }
}
