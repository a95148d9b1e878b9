/**
 * MQTT keep-alive (3.1.2.10 in 3.1.1 and 5): "If the Keep Alive value is non-zero and the Server
 * does not receive an MQTT Control Packet from the Client within one and a half times the Keep
 * Alive time period, it MUST disconnect". One timer per connection that sleeps until the
 * connection's deadline (its last packet + 1.5 × keep-alive) and, when a packet moved the deadline
 * meanwhile, sleeps again until the new one. A packet only stamps its time (the connection's
 * `lastPacketAt`): no timer is touched per packet. Before, each connection checked every second
 * (1,000 idle connections: 1,000 timer callbacks a second) and disconnected up to a second late.
 *
 * @module
 */

/** The timers the watch uses (a test's fake clock, or the runtime's). */
export interface KeepAliveClock {
  now(): number;
  set(f: () => void, ms: number): unknown;
  clear(id: unknown): void;
}

/**
 * The clock a connection stamps its packets with and the watch reads: monotonic, never the wall
 * clock, which an operator or NTP may step (back: a dead client noticed that much late; forward:
 * live idle clients disconnected at once).
 */
export const monotonicNow = (): number => performance.now();

const REAL_CLOCK: KeepAliveClock = {
  now: monotonicNow,
  set: (f, ms) => setTimeout(f, ms),
  clear: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/**
 * Watches a connection whose CONNECT gave `seconds` of keep-alive (0: none, nothing watched).
 * `lastPacketAt()` is when the client last sent a packet (undefined while the connection is not
 * reading its socket: a client held back by TCP is not silent; the time reading resumes counts as
 * a packet then). `expire(limitMs)` runs once when the client has been silent for more than
 * 1.5 × `seconds`. Returns what stops the watch.
 */
export function watchKeepAlive(
  seconds: number,
  lastPacketAt: () => number | undefined,
  expire: (limitMs: number) => void,
  clock: KeepAliveClock = REAL_CLOCK,
): () => void {
  if (seconds <= 0) return () => {};
  const limitMs = seconds * 1500;
  let timer: unknown;
  let stopped = false;
  const check = () => {
    timer = undefined;
    if (stopped) return;
    const last = lastPacketAt();
    if (last === undefined) return void (timer = clock.set(check, limitMs));
    const leftMs = last + limitMs - clock.now();
    if (leftMs < 0) return expire(limitMs); // silent for more than the limit
    // 1 ms past the deadline: silent for more than the limit then, unless a packet came.
    timer = clock.set(check, leftMs + 1);
  };
  const last = lastPacketAt();
  timer = clock.set(check, (last === undefined ? limitMs : last + limitMs - clock.now()) + 1);
  return () => {
    stopped = true;
    if (timer !== undefined) clock.clear(timer);
    timer = undefined;
  };
}
