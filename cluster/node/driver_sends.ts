/**
 * The order of a leader's sends around its own log write. A Ready's messages may all leave
 * before its persist (Raft §10.2.1: the leader writes its log in parallel with replicating), and
 * the driver handed them to the transport in one call, whose flush (a microtask) ran before the
 * persist's log write: each append costs the leader a socket write (on loopback ~30 µs on a
 * quiet 2-core box, up to ~100 µs on a busy one: the write wakes the follower), and its own write
 * and `fdatasync` started only after all of them. A commit needs the leader's fsync and a quorum
 * of the followers: on three nodes one follower's answer. So the appends to the followers a
 * commit needs besides the leader go first, then the persist starts the leader's write, then
 * the rest leave (one microtask later, while the leader's fsync runs).
 *
 * @module
 */

import type { Message, Ready } from "../raft/mod.ts";

/**
 * Splits `messages` into those to send before the leader's own log write and those after it:
 * the messages of the first `ceil(peers / 2)` peers (in the order they appear), which with the
 * leader make a majority, go first; all of them when there is nothing to write or one peer. A
 * peer's messages are all in one part, in their order.
 */
export function sendsAroundOwnWrite(
  messages: readonly Message[],
  writing: boolean,
): { readonly first: readonly Message[]; readonly later: readonly Message[] } {
  if (!writing || messages.length < 2) return { first: messages, later: [] };
  const peers: string[] = [];
  for (const m of messages) if (!peers.includes(m.to)) peers.push(m.to);
  if (peers.length < 2) return { first: messages, later: [] };
  const firstPeers = new Set(peers.slice(0, Math.ceil(peers.length / 2)));
  const first: Message[] = [];
  const later: Message[] = [];
  for (const m of messages) (firstPeers.has(m.to) ? first : later).push(m);
  return { first, later };
}

/**
 * Sends the part of `rd`'s messages that goes before the leader's own write now; returns what
 * sends the rest once `persisting` (the Ready's persist, just started) is under way: called as
 * `await sendRest(persist(rd))`, their flush comes after the write the persist started.
 */
export function sendBeforeOwnWrite(
  rd: Ready,
  send: (messages: readonly Message[]) => void,
): <T>(persisting: Promise<T>) => Promise<T> {
  const { first, later } = sendsAroundOwnWrite(rd.messages, rd.entries.length > 0);
  if (first.length > 0) send(first);
  if (later.length === 0) return passOn;
  return (persisting) => {
    send(later);
    return persisting;
  };
}

/** `sendBeforeOwnWrite`'s answer when nothing is left to send. */
function passOn<T>(persisting: Promise<T>): Promise<T> {
  return persisting;
}
