/**
 * How much a consumer keeps on its way: the adaptive default of `prefetch` (deliveries granted
 * ahead of the handlers) and the most settles that may wait for their commit at once.
 *
 * @module
 */

/**
 * The most deliveries the adaptive default of `prefetch` grants: the broker's largest receive.
 * Each replicated receive then leases more at once: with the old cap of 256, a consumer of
 * 256-byte messages went at 0.7-0.8x the rate, at 1.4-1.7x the server CPU per message.
 */
export const PREFETCH_ADAPTIVE_MAX = 1000;

/** The most bytes of pushed messages the adaptive default grants (1 MiB bodies do not get 1000). */
export const PREFETCH_ADAPTIVE_BYTES = 1024 * 1024;

/**
 * The default `prefetch` (see `ConsumeOptions.prefetch`): the deliveries `concurrency` handlers
 * of `handlerMs` each get through in a tenth of the lease, no more than `PREFETCH_ADAPTIVE_BYTES`
 * of messages of `messageBytes` (as pushed so far, when known), between `concurrency` and
 * `PREFETCH_ADAPTIVE_MAX`.
 */
export function adaptivePrefetch(
  concurrency: number,
  leaseMs: number,
  handlerMs: number,
  messageBytes?: number,
): number {
  const fits = Math.floor(concurrency * (leaseMs / 10) / Math.max(handlerMs, 0.01));
  const bytes = messageBytes === undefined || messageBytes <= 0
    ? PREFETCH_ADAPTIVE_MAX
    : Math.floor(PREFETCH_ADAPTIVE_BYTES / messageBytes);
  return Math.max(concurrency, Math.min(PREFETCH_ADAPTIVE_MAX, fits, bytes));
}

/**
 * Messages whose handler is done but whose settle is still on its way, at most: what the ack
 * batcher can have on its way (4 requests of 1000), no more than `SETTLING_BYTES` of messages at
 * the mean size pushed so far, never fewer than 1000. While it is full the loop takes no more
 * messages (and grants no more credit): with 1000, a fast consumer spent a third to a half of its
 * time waiting here for the acks' commits.
 */
export function maxSettling(messageBytes: number | undefined): number {
  if (messageBytes === undefined || messageBytes <= 0) return SETTLING_MIN;
  return Math.max(SETTLING_MIN, Math.min(SETTLING_MAX, Math.floor(SETTLING_BYTES / messageBytes)));
}

const SETTLING_MIN = 1000;
const SETTLING_MAX = 4000;
const SETTLING_BYTES = 64 * 1024 * 1024;
