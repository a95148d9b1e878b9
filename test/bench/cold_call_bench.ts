/**
 * What a call costs when it runs once per wake-up, as a node's per-entry code does, against the
 * same call back to back (as a microbenchmark measures it). Three calls of the links' hot path
 * (`cluster/transport`'s frame codec, msgpackr): encoding an `append_resp` frame, decoding it,
 * and decoding an append of one 17 KB entry. Each is timed alone, call by call,
 * in three modes: `hot` (back to back), `spin` (the thread busy-waits `--gap-ms` between two
 * rounds) and `sleep` (a timer of `--gap-ms` between two rounds: the event loop sleeps, as a
 * node's does between two entries). Before the measured rounds every mode runs `--warmup` rounds
 * back to back, so the optimizing compiler has the code in all three. Prints p50 and p90 (µs) of
 * the last 1,000 rounds of each mode.
 *
 * Usage: deno run -A test/bench/cold_call_bench.ts [--rounds 2000] [--gap-ms 2]
 *   [--warmup 30000] [--modes hot,spin,sleep]
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Message } from "../../cluster/raft/mod.ts";
import { decodeFrame, encodeFrame } from "../../cluster/transport/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "2000" },
    "gap-ms": { type: "string", default: "2" },
    warmup: { type: "string", default: "30000" },
    modes: { type: "string", default: "hot,spin,sleep" },
  },
});
const ROUNDS = Number(values.rounds);
const GAP_MS = Number(values["gap-ms"]);
const WARMUP = Number(values.warmup);

const answer = (i: number): Message => ({
  type: "append_resp",
  clusterId: "c1",
  from: "n2",
  to: "n1",
  term: 3,
  logTerm: 0,
  index: 1001 + i,
  commit: 1000 + i,
  reject: false,
  incarnation: "0123456789abcdef",
});

const append: Message = {
  type: "append",
  clusterId: "c1",
  from: "n1",
  to: "n2",
  term: 3,
  logTerm: 3,
  index: 1000,
  commit: 999,
  entries: [{ term: 3, index: 1001, kind: 0, data: new Uint8Array(17_000).fill(7) }],
  incarnation: "abcdef0123456789",
  toIncarnation: "0123456789abcdef",
};

const appendFrame = encodeFrame([append]);
let kept: unknown; // results are kept so that no call is optimized away

/** One round: the three calls, each timed; returns their durations in ms. */
function round(i: number): [number, number, number] {
  const t0 = performance.now();
  const frame = encodeFrame([answer(i)]);
  const t1 = performance.now();
  kept = decodeFrame(frame);
  const t2 = performance.now();
  // A fresh copy, as a frame read from a socket is.
  kept = decodeFrame(appendFrame.slice());
  const t3 = performance.now();
  return [t1 - t0, t2 - t1, t3 - t2];
}

async function gap(mode: string): Promise<void> {
  if (mode === "sleep") await new Promise((resolve) => setTimeout(resolve, GAP_MS));
  else if (mode === "spin") {
    const end = performance.now() + GAP_MS;
    while (performance.now() < end) { /* busy */ }
  }
}

const pct = (a: readonly number[], q: number) =>
  [...a].sort((x, y) => x - y)[Math.floor(q * (a.length - 1))] * 1000;

for (let i = 0; i < WARMUP; i++) round(i);
for (const mode of values.modes.split(",")) {
  const times: [number[], number[], number[]] = [[], [], []];
  for (let i = 0; i < ROUNDS; i++) {
    round(i).forEach((t, k) => times[k].push(t));
    if (mode !== "hot") await gap(mode);
  }
  const names = ["encode append_resp", "decode it", "decode 17 KB append"];
  const cells = times.map((t, k) => {
    const last = t.slice(-1000);
    return `${names[k]} ${pct(last, 0.5).toFixed(1)} / ${pct(last, 0.9).toFixed(1)}`;
  });
  console.log(`${mode.padEnd(5)} (p50 / p90 µs): ${cells.join(", ")}`);
}
console.log(`load ${Deno.loadavg().join(" ")}${kept === undefined ? "" : ""}`);
