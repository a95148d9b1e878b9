/**
 * The follower's and candidate's side: AppendEntries and heartbeats (§5.3), InstallSnapshot in
 * chunks (§7), vote counting, timeout_now (§3.10) and forwarded ReadIndex answers.
 *
 * @module
 */

import { LostLogError } from "./lost_log_error.ts";
import type { Raft } from "./raft.ts";
import type { Message, Snapshot, SnapshotMeta } from "./types.ts";

/**
 * A snapshot being assembled from chunks. Memory only: a crash restarts the transfer. Each chunk
 * is copied straight to its place in one buffer of the announced size, so a large snapshot is
 * held once while it arrives and when it is installed (chunks gathered and then joined held it
 * twice at the end: 720 MB for a 360 MB state, beside the state being replaced).
 */
export interface IncomingSnapshot {
  /** The leader sending it: bytes of two leaders' copies are never mixed. */
  readonly from: string;
  readonly meta: SnapshotMeta;
  readonly totalBytes: number;
  /** `totalBytes` long; bytes up to `receivedBytes` are filled. */
  readonly data: Uint8Array;
  receivedBytes: number;
}

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case "append":
      r.electionElapsed = 0;
      r.lead = m.from;
      handleAppend(r, m);
      return;
    case "heartbeat":
      r.electionElapsed = 0;
      r.lead = m.from;
      handleHeartbeat(r, m);
      return;
    case "snapshot":
      r.electionElapsed = 0;
      r.lead = m.from;
      handleSnapshot(r, m);
      return;
    case "timeout_now":
      // §3.10: the leader asks us to start an election now, skipping pre-vote.
      r.campaign("transfer");
      return;
    case "read_index_resp":
      r.readStates.push({ index: m.index, context: m.context ?? new Uint8Array(), term: m.term });
      return;
    default:
      return;
  }
}

export function stepCandidate(r: Raft, m: Message): void {
  switch (m.type) {
    case "append":
    case "heartbeat":
    case "snapshot":
      // A leader exists for our term (§5.2): it won; follow it.
      r.becomeFollower(m.term, m.from);
      stepFollower(r, m);
      return;
    case "prevote_resp":
    case "vote_resp": {
      const mine = r.role === "pre_candidate" ? "prevote_resp" : "vote_resp";
      if (m.type !== mine) return;
      r.votes.set(m.from, m.reject !== true);
      r.pollVotes();
      return;
    }
    default:
      return;
  }
}

function handleAppend(r: Raft, m: Message): void {
  const log = r.log;
  if (m.index < log.committed) {
    // Everything up to our commit matches the leader's log already; tell it where we are.
    r.send({ type: "append_resp", to: m.from, index: log.committed }, true);
    return;
  }
  const lastNew = log.maybeAppend(m.index, m.logTerm, m.commit, m.entries ?? []);
  if (lastNew !== undefined) {
    // Acknowledged only once the appended entries are durable (messagesAfterPersist).
    r.send({ type: "append_resp", to: m.from, index: lastNew }, true);
    return;
  }
  // Fast back-off (etcd's findConflictByTerm): skip every entry of ours whose term is larger than
  // the leader's prevLogTerm; none of them can match.
  const hint = log.findConflictByTerm(Math.min(m.index, log.lastIndex()), m.logTerm);
  r.send({
    type: "append_resp",
    to: m.from,
    index: m.index,
    reject: true,
    rejectHint: hint.index,
    logTerm: hint.term,
  }, true);
}

function handleHeartbeat(r: Raft, m: Message): void {
  // The leader sends min(match, commit): we hold those entries, matching the leader's, unless
  // this node's storage lost what it acknowledged (lost_log_error.ts).
  const last = r.log.lastIndex();
  if (m.commit > last) throw new LostLogError(r.id, m.from, m.commit, last);
  r.log.commitTo(m.commit);
  r.send({ type: "heartbeat_resp", to: m.from, ...(m.context ? { context: m.context } : {}) });
}

function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.index === b.index && a.term === b.term;
}

function handleSnapshot(r: Raft, m: Message): void {
  const chunk = m.snapshot;
  if (chunk === undefined) {
    throw new Error(`Cannot handle a snapshot message from ${m.from}: no chunk`);
  }
  const meta = chunk.meta;
  const ack = (index: number, reject: boolean) =>
    r.send({ type: "snapshot_resp", to: m.from, index, reject, snapshotIndex: meta.index });
  if (meta.index <= r.log.committed) {
    // Not needed (any more): say how far we are so the leader resumes from the log.
    r.incoming = undefined;
    r.send({ type: "append_resp", to: m.from, index: r.log.committed }, true);
    return;
  }
  if (chunk.offset === 0) {
    // A (re)started transfer begins from scratch.
    if (!Number.isSafeInteger(chunk.totalBytes) || chunk.totalBytes < 0) {
      r.incoming = undefined;
      ack(0, true);
      return;
    }
    r.incoming = {
      from: m.from,
      meta,
      totalBytes: chunk.totalBytes,
      data: new Uint8Array(chunk.totalBytes),
      receivedBytes: 0,
    };
  }
  const inc = r.incoming;
  if (
    inc === undefined || inc.from !== m.from || !sameMeta(inc.meta, meta) ||
    inc.totalBytes !== chunk.totalBytes
  ) {
    ack(0, true);
    return;
  }
  if (chunk.offset !== inc.receivedBytes) {
    // A duplicate (behind) is acked with what we have; a gap (ahead) is rejected the same way.
    ack(inc.receivedBytes, chunk.offset > inc.receivedBytes);
    return;
  }
  const end = inc.receivedBytes + chunk.data.byteLength;
  if (end > inc.totalBytes || (chunk.done && end !== inc.totalBytes)) {
    r.incoming = undefined;
    ack(0, true);
    return;
  }
  inc.data.set(chunk.data, inc.receivedBytes);
  inc.receivedBytes = end;
  if (!chunk.done) {
    ack(inc.receivedBytes, false);
    return;
  }
  r.incoming = undefined;
  installSnapshot(r, m, { meta, data: inc.data });
}

/** §7: a complete snapshot from the leader. */
function installSnapshot(r: Raft, m: Message, snap: Snapshot): void {
  const log = r.log;
  const { index, term } = snap.meta;
  if (index <= log.committed) {
    r.send({ type: "append_resp", to: m.from, index: log.committed }, true);
    return;
  }
  if (log.matchTerm(index, term)) {
    // Our log already holds the snapshot's last entry: keep the suffix after it (§7) and just
    // commit; the application applies those entries from the log as usual.
    log.commitTo(index);
    r.send({ type: "append_resp", to: m.from, index }, true);
    return;
  }
  // Conflicting or too short: discard the log; the snapshot replaces it (persisted in the next
  // Ready before the acknowledgement leaves).
  log.restore(snap);
  r.conf = snap.meta.conf;
  r.send({ type: "append_resp", to: m.from, index: log.lastIndex() }, true);
}
