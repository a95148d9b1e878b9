/**
 * Pacers for the driver's `Pace` port: how long background work (snapshots) may hold the event
 * loop before it gives the loop a turn.
 *
 * @module
 */

import type { Pace } from "./ports.ts";

/** About the longest synchronous slice `slicePacer` lets background work run by default. */
export const SLICE_MS = 10;

/**
 * The real pacer: once `sliceMs` passed since the last turn it gave the loop, it waits for a
 * macrotask (`setTimeout(0)`, ~1–4 ms), so timers, I/O and HTTP requests run in between. A turn
 * costs a few ms, so it yields every slice rather than every step.
 */
export function slicePacer(
  sliceMs = SLICE_MS,
  nowMs: () => number = () => performance.now(),
): Pace {
  let sliceStartMs = nowMs();
  return async () => {
    if (nowMs() - sliceStartMs < sliceMs) return;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    sliceStartMs = nowMs();
  };
}

/**
 * Never yields: steps run back to back (only the microtask of the await between them). For the
 * deterministic simulator, where no real timer may decide an order, and for small tests.
 */
export const noPace: Pace = () => Promise.resolve();
