/**
 * Single-server membership changes (Raft dissertation §4.1): encoding, validation, and applying a
 * change to a `ConfState`.
 *
 * When a change takes effect (the rule this core follows everywhere, etcd-style): a conf change
 * entry takes effect on a node when that node *applies* it, i.e. in `advance()` for the Ready whose
 * `committedEntries` carried it. It is therefore never reverted (committed entries are never
 * truncated), and a snapshot's `meta.conf` is the membership as of its index. Safety with
 * single-server changes comes from: one change in flight at a time (the leader refuses another
 * until the previous one is applied on the leader), and a leader appending a change only after it
 * committed an entry of its own term (the 2015 raft-dev fix); a node does not campaign while a
 * committed conf change is not yet applied.
 *
 * @module
 */

import type { ConfChange, ConfState, NodeId } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a conf change as the data of an `EntryKind.ConfChange` entry (UTF-8 JSON). */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const plain: { op: string; nodeId: string; context?: string } = { op: cc.op, nodeId: cc.nodeId };
  if (cc.context !== undefined) plain.context = cc.context;
  return encoder.encode(JSON.stringify(plain));
}

/** Decodes what `encodeConfChange` produced; throws on anything else (a corrupt log). */
export function decodeConfChange(data: Uint8Array): ConfChange {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch (e) {
    throw new Error(`Cannot decode a conf change entry: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null) {
    throw new Error("Cannot decode a conf change: not an object");
  }
  const o = v as Record<string, unknown>;
  if (o.op !== "add_learner" && o.op !== "promote" && o.op !== "remove" && o.op !== "identify") {
    throw new Error(`Cannot decode a conf change: unknown op ${String(o.op)}`);
  }
  if (typeof o.nodeId !== "string" || o.nodeId === "") {
    throw new Error("Cannot decode a conf change: nodeId is not a non-empty string");
  }
  if (o.context !== undefined && typeof o.context !== "string") {
    throw new Error("Cannot decode a conf change: context is not a string");
  }
  return o.context === undefined
    ? { op: o.op, nodeId: o.nodeId }
    : { op: o.op, nodeId: o.nodeId, context: o.context };
}

/** Why `cc` cannot apply to `conf`, or undefined when it can. */
export function validateConfChange(conf: ConfState, cc: ConfChange): string | undefined {
  const isVoter = conf.voters.includes(cc.nodeId);
  const isLearner = conf.learners.includes(cc.nodeId);
  switch (cc.op) {
    case "add_learner":
      if (cc.nodeId === "") return "Cannot add a learner with an empty id";
      return isVoter || isLearner ? `Cannot add ${cc.nodeId}: it is already a member` : undefined;
    case "promote":
      return isLearner ? undefined : `Cannot promote ${cc.nodeId}: it is not a learner`;
    case "identify":
      if (!isVoter && !isLearner) return `Cannot identify ${cc.nodeId}: it is not a member`;
      return cc.context ? undefined : `Cannot identify ${cc.nodeId}: no incarnation given`;
    case "remove":
      if (!isVoter && !isLearner) return `Cannot remove ${cc.nodeId}: it is not a member`;
      if (isVoter && conf.voters.length === 1) {
        return `Cannot remove ${cc.nodeId}: it is the last voter`;
      }
      return undefined;
  }
}

/** The membership after `cc`. Invalid changes leave it as it is (they were refused at propose). */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  if (validateConfChange(conf, cc) !== undefined) return conf;
  const without = (ids: readonly NodeId[]) => ids.filter((id) => id !== cc.nodeId);
  switch (cc.op) {
    case "add_learner":
      return { voters: conf.voters, learners: [...conf.learners, cc.nodeId].sort() };
    case "promote":
      return { voters: [...conf.voters, cc.nodeId].sort(), learners: without(conf.learners) };
    case "remove":
      return { voters: without(conf.voters), learners: without(conf.learners) };
    case "identify":
      return conf;
  }
}

/** True when `id` is a voter or a learner. */
export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}
