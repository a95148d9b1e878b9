/**
 * Pending ReadIndex requests on a leader (Raft dissertation §6.4). Each request records the commit
 * index when it arrived; it completes once a majority of voters acknowledged a heartbeat sent
 * after it. A later acknowledged heartbeat also confirms every earlier request, so requests
 * complete in arrival order.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

export interface ReadRequest {
  readonly index: number;
  /** Who asked: this node (local ReadState) or a follower (read_index_resp). */
  readonly from: NodeId;
  readonly context: Uint8Array;
  readonly key: string;
  readonly acks: Set<NodeId>;
}

/** A stable map key for a request context. */
export function contextKey(ctx: Uint8Array): string {
  let s = "";
  for (const b of ctx) s += b.toString(16).padStart(2, "0");
  return s;
}

export class ReadOnly {
  private queue: ReadRequest[] = [];
  private byKey = new Map<string, ReadRequest>();

  get size(): number {
    return this.queue.length;
  }

  /** Adds a request. A duplicate context is ignored (the caller's contexts must be unique). */
  add(index: number, from: NodeId, context: Uint8Array, self: NodeId): boolean {
    const key = contextKey(context);
    if (this.byKey.has(key)) return false;
    const req: ReadRequest = { index, from, context, key, acks: new Set([self]) };
    this.queue.push(req);
    this.byKey.set(key, req);
    return true;
  }

  /** Records that `from` acknowledged the heartbeat carrying `context`. */
  recvAck(from: NodeId, context: Uint8Array): ReadRequest | undefined {
    const req = this.byKey.get(contextKey(context));
    if (req === undefined) return undefined;
    req.acks.add(from);
    return req;
  }

  /** Removes and returns every request up to and including `req`. */
  advance(req: ReadRequest): ReadRequest[] {
    const i = this.queue.indexOf(req);
    if (i < 0) return [];
    const done = this.queue.splice(0, i + 1);
    for (const r of done) this.byKey.delete(r.key);
    return done;
  }

  /** The context of the newest pending request, sent with heartbeats until it completes. */
  lastContext(): Uint8Array | undefined {
    return this.queue.length === 0 ? undefined : this.queue[this.queue.length - 1].context;
  }

  reset(): void {
    this.queue = [];
    this.byKey.clear();
  }
}
