/**
 * A stream consumer (`consume` frame, docs/stream.md "Consume and credit"): while the client has
 * credit, the node runs the receive route for it as a long poll of at most `credit` messages and
 * pushes each non-empty answer as a `push` frame; each message pushed uses one credit. With no
 * credit left it waits for a `credit` frame. It ends on `cancel`, when the stream closes, or on a
 * problem (a deleted queue, ...), which is its final `res` frame; a cancelled consumer's final
 * answer is 204. Receipts are settled with ordinary `req` frames (ack/nack/extend, in batches).
 *
 * @module
 */

import type { StreamSession } from "./stream.ts";
import { answerFrame, RelayRefused, type StreamInFrame } from "./stream_frames.ts";

/** Longest single receive: the broker's `max`. */
const MAX_PER_RECEIVE = 1000;
/** Long-poll wait of each receive the consumer runs. */
const WAIT_MS = 20_000;

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
  session.consumers.set(frame.i, state);
  try {
    // Bounded by the stream: every round either pushes (using credit), waits for credit, or
    // long-polls with a deadline; cancel and close abort both waits.
    while (!stop.signal.aborted) {
      if (state.credit === 0) {
        await new Promise<void>((resolve) => wake = resolve);
        continue;
      }
      const max = Math.min(state.credit, MAX_PER_RECEIVE);
      const body = { ...frame.b, max, waitMs: WAIT_MS };
      // No session place or key: each round is a new receive (one place would replay the first).
      // `h` is at most a relayed caller's authorization (an edge gateway's stream).
      let request: Request;
      try {
        request = session.internalRequest("POST", frame.p, frame.h, body, stop.signal);
      } catch (error) {
        if (!(error instanceof RelayRefused)) throw error;
        session.sendProblem(frame.i, "forbidden", error.message);
        return;
      }
      const response = await session.dispatch(request);
      if (!response.ok) {
        session.send(await answerFrame(frame.i, response));
        return;
      }
      const text = await response.text();
      const count = (JSON.parse(text) as { messages: unknown[] }).messages.length;
      if (count > 0) {
        state.credit = Math.max(0, state.credit - count);
        session.send({ t: "push", i: frame.i, j: text });
      }
    }
    session.send({ t: "res", i: frame.i, s: 204 });
  } finally {
    session.consumers.delete(frame.i);
  }
}
