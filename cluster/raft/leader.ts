/**
 * The leader's side: replication with flow control (§5.3), the commit rule (§5.3, §5.4.2),
 * InstallSnapshot in chunks (§7), ReadIndex (dissertation §6.4) and leadership transfer (§3.10).
 *
 * @module
 */

import { committedIndex } from "./quorum.ts";
import { entryBytes } from "./log.ts";
import type { Progress } from "./progress.ts";
import type { Raft } from "./raft.ts";
import { EntryKind, type Message, NO_NODE, type NodeId } from "./types.ts";
import { hasQuorum } from "./quorum.ts";

const decoder = new TextDecoder();

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case "append_resp":
      handleAppendResp(r, m);
      return;
    case "heartbeat_resp":
      handleHeartbeatResp(r, m);
      return;
    case "snapshot_resp":
      handleSnapshotResp(r, m);
      return;
    case "read_index":
      leaderReadIndex(r, m.from, m.context ?? new Uint8Array());
      return;
    case "transfer_leader": {
      const to = decoder.decode(m.context ?? new Uint8Array());
      leaderTransfer(r, to === "" ? undefined : to);
      return;
    }
    case "append":
    case "heartbeat":
    case "snapshot":
      // Election safety (§5.2): two leaders in one term is a broken invariant.
      throw new Error(
        `Election safety violated: ${r.id} leads term ${r.term} and got ${m.type} from ${m.from}`,
      );
    default:
      return; // stale vote answers, timeout_now for an old transfer, ...
  }
}

/** Leader: the commit index by majority of voters, counting only entries of this term (§5.4.2). */
export function maybeCommitLeader(r: Raft): boolean {
  const mci = committedIndex(r.conf.voters, (id) => r.progress.get(id)?.match ?? 0);
  if (mci <= r.log.committed) return false;
  const olderTermByCount = r.config.unsafeTestFaults?.commitOlderTermEntriesByCount === true;
  if (!olderTermByCount && r.log.term(mci) !== r.term) return false;
  r.log.commitTo(mci);
  if (r.log.term(r.log.committed) === r.term) releasePendingReads(r);
  return true;
}

/**
 * The commit moved: followers hear of it with the next Ready, or, with `deferCommitNotice`, with
 * the next append or heartbeat (or `RawNode.sendCommit`).
 */
export function commitMoved(r: Raft): void {
  if (r.config.deferCommitNotice === true) r.commitUnsent = true;
  else r.needBroadcast = true;
}

/** Sends what `to` is missing. Returns false when nothing was sent (paused or up to date). */
export function maybeSendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.progress.get(to);
  if (pr === undefined || to === r.id) return false;
  if (pr.state === "snapshot") {
    sendSnapshotChunk(r, to, pr);
    return false;
  }
  if (pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  if (prevTerm === undefined) {
    // The entries this follower needs are compacted: InstallSnapshot (§7).
    const snap = r.log.snapshot;
    if (snap === undefined) {
      throw new Error(`Cannot replicate to ${to}: entry ${prevIndex} is compacted but no snapshot`);
    }
    pr.becomeSnapshot(snap);
    sendSnapshotChunk(r, to, pr);
    return true;
  }
  const entries = r.log.slice(pr.next, r.log.lastIndex() + 1, r.maxAppendBytes);
  if (entries.length === 0 && !sendIfEmpty) return false;
  r.send({
    type: "append",
    to,
    index: prevIndex,
    logTerm: prevTerm,
    entries,
    commit: r.log.committed,
  });
  pr.appendSentSinceBeat = true;
  if (entries.length > 0 && pr.state === "replicate") {
    // Pipelining: assume it arrives; a rejection resets `next` (maybeDecrTo).
    const last = entries[entries.length - 1].index;
    pr.next = last + 1;
    let bytes = 0;
    for (const e of entries) bytes += entryBytes(e);
    pr.inflights.add(last, bytes);
  } else if (pr.state === "probe") {
    pr.probeSent = true;
  }
  return true;
}

/** Sends new entries (or the new commit index) to every follower: one append per Ready. */
export function bcastAppend(r: Raft): void {
  // Every follower gets an append (empty or not), each carrying the commit.
  r.commitUnsent = false;
  for (const id of r.progress.keys()) {
    if (id === r.id) continue;
    // More than maxAppendBytes pending: pipeline several appends, up to the inflight window.
    for (let k = 0; k < r.maxInflight && maybeSendAppend(r, id, k === 0); k++);
  }
}

function handleAppendResp(r: Raft, m: Message): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  if (m.reject) {
    // Fast back-off (etcd): jump to the follower's hint, refined by our own log's terms.
    let hint = m.rejectHint ?? m.index - 1;
    if (m.logTerm > 0) hint = r.log.findConflictByTerm(hint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === "replicate") pr.becomeProbe();
      maybeSendAppend(r, m.from, true);
    }
    return;
  }
  if (m.index > r.log.lastIndex()) {
    // A follower of this term holds only our entries and its committed prefix, which Leader
    // Completeness (§5.4) puts in our log: an ack beyond our log means two leaders' logs.
    throw new Error(
      `Election safety violated: ${m.from} acknowledged index ${m.index} in term ${r.term}, ` +
        `beyond leader ${r.id}'s last index ${r.log.lastIndex()}`,
    );
  }
  const advanced = pr.maybeUpdate(m.index);
  if (advanced) pr.ackedSinceBeat = true;
  if (advanced || (pr.state === "probe" && pr.match === m.index)) {
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.match + 1 >= r.log.firstIndex()) {
      // The follower installed the snapshot (or caught up otherwise): back to the log.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
      // It installed the snapshot we sent, but we compacted further meanwhile: send a newer one.
      pr.becomeProbe();
    } else if (pr.state === "replicate") pr.inflights.freeLE(m.index);
    if (maybeCommitLeader(r)) commitMoved(r);
    // Send more as soon as the follower acks (bounded by the inflight window).
    for (let k = 0; k < r.maxInflight && maybeSendAppend(r, m.from, false); k++);
    if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
      r.send({ type: "timeout_now", to: m.from });
    }
  }
}

function handleHeartbeatResp(r: Raft, m: Message): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  pr.probeSent = false;
  if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.state === "snapshot" && pr.transfer?.inFlight) {
    // One heartbeat round trip without an ack: the chunk (or its ack) was lost; resend it.
    if (pr.transfer.stalledRounds++ >= 1) pr.transfer.inFlight = false;
  }
  if (pr.match < r.log.lastIndex() || pr.state === "snapshot") maybeSendAppend(r, m.from, true);
  else if (m.from === r.leadTransferee) {
    // §3.10: the target is caught up but has not campaigned yet. Our timeout_now was lost, or it
    // came while the target could not campaign (a pre-candidate, or a committed conf change not
    // yet applied: `Raft.campaign`). Ask again, once per heartbeat, until the transfer ends.
    r.send({ type: "timeout_now", to: m.from });
  }
  if (m.context !== undefined && m.context.length > 0) {
    const req = r.readOnly.recvAck(m.from, m.context);
    if (req === undefined) return;
    if (!hasQuorum(r.conf.voters, (id) => req.acks.has(id))) return;
    for (const done of r.readOnly.advance(req)) respondRead(r, done.from, done.index, done.context);
  }
}

/** Sends the next chunk of the snapshot transfer to `to` unless one is in flight. */
function sendSnapshotChunk(r: Raft, to: NodeId, pr: Progress): void {
  const newest = r.log.snapshot;
  if (
    pr.transfer !== undefined && newest !== undefined &&
    newest.meta.index > pr.transfer.snapshot.meta.index
  ) {
    // A newer snapshot replaced the one being sent: send that one instead, from its start. Its
    // bytes may be read from storage, which keeps only the newest snapshots.
    pr.becomeSnapshot(newest);
  }
  const t = pr.transfer;
  if (t === undefined || t.inFlight) return;
  const total = t.snapshot.data.byteLength;
  const offset = t.ackedBytes;
  if (offset > total) {
    throw new Error(`Cannot send a snapshot chunk at ${offset} of ${total} bytes`);
  }
  const end = Math.min(total, offset + r.snapshotChunkBytes);
  r.send({
    type: "snapshot",
    to,
    snapshot: {
      meta: t.snapshot.meta,
      offset,
      data: t.snapshot.data.subarray(offset, end),
      totalBytes: total,
      done: end === total,
    },
    snapshotIndex: t.snapshot.meta.index,
  });
  t.inFlight = true;
  t.stalledRounds = 0;
}

function handleSnapshotResp(r: Raft, m: Message): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  const t = pr.transfer;
  if (pr.state !== "snapshot" || t === undefined) return;
  if (m.snapshotIndex !== t.snapshot.meta.index) return; // an ack of an earlier transfer
  if (m.reject) {
    // The follower lost its partial copy (restart) or missed a chunk: continue where it is.
    t.ackedBytes = Math.min(m.index, t.snapshot.data.byteLength);
  } else {
    if (m.index <= t.ackedBytes && !t.inFlight) return; // duplicate ack
    t.ackedBytes = Math.max(t.ackedBytes, Math.min(m.index, t.snapshot.data.byteLength));
  }
  t.inFlight = false;
  // After the last chunk the follower answers with append_resp once it persisted the snapshot.
  if (t.ackedBytes < t.snapshot.data.byteLength) sendSnapshotChunk(r, m.from, pr);
}

// ---- ReadIndex (dissertation §6.4) ----------------------------------------------------------

export function leaderReadIndex(r: Raft, from: NodeId, context: Uint8Array): void {
  // Step 1: the leader's commit index is only known current once it committed an entry of its
  // term; until then queue the request.
  if (r.log.term(r.log.committed) !== r.term) {
    r.pendingReads.push({ from, context });
    return;
  }
  if (r.conf.voters.length === 1 && r.conf.voters[0] === r.id) {
    respondRead(r, from, r.log.committed, context);
    return;
  }
  if (r.readOnly.add(r.log.committed, from, context, r.id)) r.needReadHeartbeat = true;
}

function releasePendingReads(r: Raft): void {
  const pending = r.pendingReads;
  r.pendingReads = [];
  for (const p of pending) leaderReadIndex(r, p.from, p.context);
}

function respondRead(r: Raft, from: NodeId, index: number, context: Uint8Array): void {
  if (from === r.id) r.readStates.push({ index, context, term: r.term });
  else r.send({ type: "read_index_resp", to: from, index, context });
}

// ---- leadership transfer (§3.10) ------------------------------------------------------------

/** The voter other than the leader with the highest match (ties: the smallest id). */
function mostUpToDateVoter(r: Raft): NodeId | undefined {
  let best: NodeId | undefined;
  let bestMatch = -1;
  for (const id of [...r.conf.voters].sort()) {
    if (id === r.id) continue;
    const match = r.progress.get(id)?.match ?? 0;
    if (match > bestMatch) {
      best = id;
      bestMatch = match;
    }
  }
  return best;
}

export type TransferOutcome =
  | { ok: true }
  | { ok: false; reason: "transfer_in_progress" }
  | { ok: false; reason: "invalid"; detail: string };

export function leaderTransfer(r: Raft, to: NodeId | undefined): TransferOutcome {
  if (r.leadTransferee !== NO_NODE) {
    // A request for the same target, or for any, joins the transfer under way (a retried call).
    const same = to === undefined || to === r.leadTransferee;
    return same ? { ok: true } : { ok: false, reason: "transfer_in_progress" };
  }
  const target = to ?? mostUpToDateVoter(r);
  if (target === undefined) {
    return { ok: false, reason: "invalid", detail: "Cannot transfer leadership: no other voter" };
  }
  if (target === r.id) return { ok: true };
  const pr = r.progress.get(target);
  if (pr === undefined || !r.isVoter(target)) {
    return {
      ok: false,
      reason: "invalid",
      detail: `Cannot transfer leadership to ${target}: it is not a voter`,
    };
  }
  r.leadTransferee = target;
  r.electionElapsed = 0; // the transfer gets one election timeout
  if (pr.match === r.log.lastIndex()) r.send({ type: "timeout_now", to: target });
  else maybeSendAppend(r, target, true);
  return { ok: true };
}

/** Leader: appends proposals to its log (persisted and sent at the next Ready). */
export function leaderAppend(r: Raft, kind: EntryKind, data: Uint8Array): number {
  const index = r.log.lastIndex() + 1;
  r.log.append([{ term: r.term, index, kind, data }]);
  if (kind === EntryKind.ConfChange) r.pendingConfIndex = index;
  r.needBroadcast = true;
  return index;
}

// ---- heartbeats -----------------------------------------------------------------------------

/**
 * Heartbeats to every follower; on the tick (`skipInStep`), not to those in step. A follower in
 * step got an append and acknowledged a new entry since its last heartbeat, holds every committed
 * entry, is replicated by pipelined appends with room in its window, and knows the commit (none
 * is held back for a notice): its heartbeat and answer would carry nothing that its appends and
 * their answers did not (its election timer and lease, the leader's check-quorum, the commit) and
 * cost the follower a wake-up and the leader an answer to read, every tick while appends flow.
 * The heartbeats stay for a read's confirmation (`ctx`), a leadership transfer, a follower in
 * probe or snapshot state, a full window, one that lags or stopped acknowledging (a lost append),
 * and one that went quiet: without a new acknowledgement each interval it gets the next tick's.
 */
export function leaderHeartbeats(r: Raft, ctx: Uint8Array | undefined, skipInStep: boolean): void {
  const skipping = skipInStep && ctx === undefined && !r.commitUnsent &&
    r.leadTransferee === NO_NODE;
  // It carries the commit to followers that hold its entry (`deferCommitNotice`); a follower
  // whose answer is still on its way learns it from the next append or notice.
  let all = true;
  for (const [id, pr] of r.progress) {
    if (id !== r.id && pr.match < r.log.committed) all = false;
  }
  if (all) r.commitUnsent = false;
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    const inStep = pr.appendSentSinceBeat && pr.ackedSinceBeat && pr.state === "replicate" &&
      !pr.inflights.full() && pr.match >= r.log.committed;
    pr.appendSentSinceBeat = false;
    pr.ackedSinceBeat = false;
    if (skipping && inStep) continue;
    r.send({
      type: "heartbeat",
      to: id,
      // A follower may lack entries up to our commit: tell it only what it has matched.
      commit: Math.min(pr.match, r.log.committed),
      ...(ctx ? { context: ctx } : {}),
    });
  }
}
