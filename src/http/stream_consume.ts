/**
 * A stream consumer (`consume` frame, docs/stream.md "Consume and credit"): while the client has
 * credit, the node runs the receive route for it, at most `credit` messages in all, and pushes
 * each non-empty answer as a `push` frame; each message pushed uses one credit. With no credit
 * left it waits for a `credit` frame. It ends on `cancel`, when the stream closes, or on a
 * problem (a deleted queue, ...), which is its final `res` frame; a cancelled consumer's final
 * answer is 204. Receipts are settled with ordinary `req` frames (ack/nack/extend, in batches).
 *
 * Receives overlap: a receive is a replicated write, so one at a time would cap a consumer at
 * one batch of deliveries per commit round, however much credit the client gave. While messages
 * keep coming, credit that arrives during a receive starts another one at once (up to
 * `MAX_RECEIVES` in flight, each for credit no other receive holds, so pushes never exceed the
 * credit). Only a receive started with nothing else in flight long-polls; the overlapping ones
 * take what is there and return, and one that finds nothing stops the overlap until a receive
 * brings messages again (an empty queue costs one long poll, not a stream of empty receives).
 *
 * @module
 */

import type { StreamSession } from "./stream.ts";
import type { Outcome } from "./answer.ts";
import { answerFrame, directFrame, RelayRefused, type StreamInFrame } from "./stream_frames.ts";
import { answerText, deliveredCount } from "./in_process.ts";

/** Longest single receive: the broker's `max`. */
const MAX_PER_RECEIVE = 1000;
/** Long-poll wait of a receive the consumer runs with nothing else in flight. */
const WAIT_MS = 20_000;
/** Receives one consumer has in flight at most. */
export const MAX_RECEIVES = 4;

/** Runs the consumer until it is cancelled, the stream closes, or a receive fails. */
export async function runConsume(
  session: StreamSession,
  frame: Extract<StreamInFrame, { t: "consume" }>,
): Promise<void> {
  const stop = new AbortController();
  let wake = () => {};
  const state = {
    credit: frame.n,
    wake: () => wake(),
    stop: () => {
      stop.abort();
      wake();
    },
  };
  /** Credit held by receives in flight (each may use up to its `max`). */
  let held = 0;
  let inFlight = 0;
  /** The last receive found nothing: no overlapping receives until one brings messages. */
  let dry = false;
  /** The answer that ends the consumer (a problem), once a receive got one. */
  let final: Promise<void> | undefined;
  /** A receive that threw (a bug): rethrown once the others are done. */
  let thrown: { error: unknown } | undefined;

  const receive = async (max: number, waitMs: number): Promise<void> => {
    const body = { ...frame.b, max, waitMs };
    // No session place or key: each round is a new receive (one place would replay the first).
    // `h` is at most a relayed caller's authorization (an edge gateway's stream).
    let run: () => Promise<Outcome>;
    try {
      run = session.prepare("POST", frame.p, frame.h, body, stop.signal);
    } catch (error) {
      if (!(error instanceof RelayRefused)) throw error;
      final ??= Promise.resolve(session.sendProblem(frame.i, "forbidden", error.message));
      stop.abort();
      return;
    }
    const outcome = await run();
    if (outcome.status < 200 || outcome.status > 299) {
      // The first problem ends the consumer; one that overlapping receives share is sent once.
      final ??= (outcome instanceof Response
        ? answerFrame(frame.i, outcome)
        : Promise.resolve(directFrame(frame.i, outcome))).then(
          (f) =>
            session.send(f),
          (error) => void (thrown ??= { error }),
        );
      stop.abort();
      return;
    }
    const { text, count } = outcome instanceof Response
      ? await deliveredOf(outcome)
      : { text: outcome.text, count: outcome.delivered ?? messagesIn(outcome.text) };
    dry = count === 0;
    if (count > 0) {
      state.credit = Math.max(0, state.credit - count);
      // A receive that ends after `cancel` leased its messages all the same: they are pushed
      // (the client releases what it does not take), never left to wait out their lease.
      session.send({ t: "push", i: frame.i, j: text });
    }
  };

  session.consumers.set(frame.i, state);
  try {
    const running = new Set<Promise<void>>();
    // Bounded by the stream: every round starts a receive (using credit no other holds, at most
    // MAX_RECEIVES at once) or waits for credit or for a receive to end; each receive ends by
    // its deadline, and cancel and close abort both waits.
    while (!stop.signal.aborted) {
      const free = state.credit - held;
      const overlap = inFlight > 0;
      if (free <= 0 || inFlight >= MAX_RECEIVES || (overlap && dry)) {
        await new Promise<void>((resolve) => wake = resolve);
        continue;
      }
      const max = Math.min(free, MAX_PER_RECEIVE);
      held += max;
      inFlight++;
      const one: Promise<void> = receive(max, overlap ? 0 : WAIT_MS).catch((error) => {
        thrown ??= { error };
        stop.abort();
      }).finally(() => {
        held -= max;
        inFlight--;
        running.delete(one);
        wake();
      });
      running.add(one);
    }
    // What is in flight still answers (its leases are pushed, or its problem is the answer).
    await Promise.all(running);
    if (final !== undefined) await final;
    if (thrown !== undefined) throw thrown.error;
    if (final === undefined) session.send({ t: "res", i: frame.i, s: 204 });
  } finally {
    session.consumers.delete(frame.i);
  }
}

/** A receive's answer through the app: its text and how many messages it delivers. */
async function deliveredOf(response: Response): Promise<{ text: string; count: number }> {
  const text = answerText.get(response) ?? await response.text();
  return { text, count: deliveredCount.get(response) ?? messagesIn(text) };
}

function messagesIn(text: string): number {
  return (JSON.parse(text) as { messages: unknown[] }).messages.length;
}
