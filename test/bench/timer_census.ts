/**
 * Counts what wakes a node: timers set and run (by where they were set, the first frames of the
 * stack outside this file) and WebSocket messages, written to stderr as one JSON line
 * (`{"census": {...}, "seconds": n}`, most frequent first) on each SIGUSR1, for the span since the
 * last. Load it before the node's modules: `deno run --preload test/bench/timer_census.ts -A
 * src/main.ts ...`, then signal the node twice some seconds apart. It cannot see timers and events
 * inside the runtime itself, nor the reads of the links' own dialer (cluster/transport/dial.ts).
 *
 * @module
 */

const counts = new Map<string, number>();
let since = performance.now();

function site(): string {
  const lines = (new Error().stack ?? "").split("\n").slice(1);
  const own = lines.filter((l) => !l.includes("timer_census.ts") && !l.includes("ext:"));
  return own.slice(0, 2).map((l) =>
    l.trim().replace(/^at /, "").replace(/file:\/\/\S*?\/(src|cluster|test)\//, "$1/")
  ).join(" < ");
}

function count(key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

const realTimeout = globalThis.setTimeout;
const realInterval = globalThis.setInterval;
type TimerFn = (...args: unknown[]) => void;

globalThis.setTimeout = ((fn: TimerFn, ms?: number, ...rest: unknown[]) => {
  if (typeof fn !== "function") return realTimeout(fn, ms, ...rest);
  const key = `timeout ${ms ?? 0}ms ${site()}`;
  count(`set ${key}`);
  return realTimeout(
    (...a: unknown[]) => {
      count(key);
      fn(...a);
    },
    ms,
    ...rest,
  );
}) as typeof setTimeout;

globalThis.setInterval = ((fn: TimerFn, ms?: number, ...rest: unknown[]) => {
  if (typeof fn !== "function") return realInterval(fn, ms, ...rest);
  const key = `interval ${ms ?? 0}ms ${site()}`;
  count(`set ${key}`);
  return realInterval(
    (...a: unknown[]) => {
      count(key);
      fn(...a);
    },
    ms,
    ...rest,
  );
}) as typeof setInterval;

// Messages on accepted WebSockets (the links' own dialer, dial.ts, is not a `WebSocket`).
const onmessage = Object.getOwnPropertyDescriptor(WebSocket.prototype, "onmessage");
if (onmessage?.set !== undefined && onmessage.get !== undefined) {
  const set = onmessage.set;
  Object.defineProperty(WebSocket.prototype, "onmessage", {
    ...onmessage,
    set(this: WebSocket, fn: ((ev: MessageEvent) => void) | null) {
      if (fn === null) return set.call(this, null);
      set.call(this, (ev: MessageEvent) => {
        const kind = typeof ev.data === "string" ? `text ${ev.data.slice(0, 12)}` : "binary";
        count(`ws message ${kind}`);
        fn.call(this, ev);
      });
    },
  });
}

Deno.addSignalListener("SIGUSR1", () => {
  const now = performance.now();
  const census = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
  console.error(JSON.stringify({ census, seconds: (now - since) / 1000 }));
  counts.clear();
  since = now;
});
