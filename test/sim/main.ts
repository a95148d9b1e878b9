/**
 * The simulator's command line.
 *
 *   deno task sim --seed N [--nodes 3|5] [--steps M] [--trace]      replay one seed exactly
 *   deno task sim --seeds N [--first S] [--steps M] [--nodes 3|5]   run a campaign
 *   add --broken commit-older|ack-early to run against a deliberately broken core or driver
 *
 * A campaign prints a progress line on stderr and ends with exactly
 * `sim: <seeds> seeds, <steps> steps, <violations> violations`; it exits 1 on any violation,
 * printing each violating seed and the command that replays it.
 *
 * @module
 */

import { nodesForSeed, replayCommand, runCampaign } from "./campaign.ts";
import { type RunOptions, runSeed } from "./run.ts";

interface Args {
  seed?: number;
  seeds?: number;
  first: number;
  steps: number;
  nodes?: 3 | 5;
  trace: boolean;
  broken?: "commit-older" | "ack-early";
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { first: 1, steps: 500, trace: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) {
        throw new Error(`Cannot read ${flag}: expected an integer`);
      }
      return v;
    };
    if (flag === "--seed") a.seed = num();
    else if (flag === "--seeds") a.seeds = num();
    else if (flag === "--first") a.first = num();
    else if (flag === "--steps") a.steps = num();
    else if (flag === "--trace") a.trace = true;
    else if (flag === "--nodes") {
      const n = num();
      if (n !== 3 && n !== 5) throw new Error("Cannot read --nodes: expected 3 or 5");
      a.nodes = n;
    } else if (flag === "--broken") {
      const b = argv[++i];
      if (b !== "commit-older" && b !== "ack-early") {
        throw new Error("Cannot read --broken: expected commit-older or ack-early");
      }
      a.broken = b;
    } else throw new Error(`Cannot run the simulator: unknown argument ${flag}`);
  }
  return a;
}

function brokenOptions(a: Args): Partial<RunOptions> {
  if (a.broken === "commit-older") return { commitOlderTermEntriesByCount: true };
  if (a.broken === "ack-early") return { driverFaults: { ackBeforePersist: true } };
  return {};
}

function replayOne(a: Args, seed: number): number {
  const r = runSeed({
    seed,
    nodes: nodesForSeed(seed, a.nodes),
    steps: a.steps,
    trace: a.trace,
    ...brokenOptions(a),
  });
  if (a.trace) { for (const line of r.trace) console.log(line); }
  for (const v of r.violations) {
    console.log(`violation ${v.invariant} at step ${v.step}: ${v.message}`);
  }
  console.log(`sim: 1 seeds, ${r.steps} steps, ${r.violations.length} violations`);
  return r.violations.length > 0 ? 1 : 0;
}

function campaign(a: Args, seeds: number): number {
  const started = Date.now();
  let lastPrint = 0;
  const enc = new TextEncoder();
  const res = runCampaign({
    firstSeed: a.first,
    seeds,
    steps: a.steps,
    nodes: a.nodes,
    ...brokenOptions(a),
  }, (done, steps, fails) => {
    const now = Date.now();
    if (now - lastPrint < 250 && done < seeds) return;
    lastPrint = now;
    const rate = Math.round(done / Math.max(0.001, (now - started) / 1000));
    Deno.stderr.writeSync(
      enc.encode(
        `\rsim: ${done}/${seeds} seeds, ${steps} steps, ${fails} failing, ${rate} seeds/s `,
      ),
    );
  });
  Deno.stderr.writeSync(enc.encode("\n"));
  const extra = a.broken ? ` --broken ${a.broken}` : "";
  for (const f of res.failures) {
    const v = f.violations[0];
    console.log(
      `seed ${f.seed} (${f.nodes} nodes): ${v.invariant} at step ${v.step}: ${v.message}`,
    );
    console.log(`  replay: ${replayCommand(f, a.steps, extra)}`);
  }
  console.log(`sim: ${res.seeds} seeds, ${res.steps} steps, ${res.failures.length} violations`);
  return res.failures.length > 0 ? 1 : 0;
}

if (import.meta.main) {
  const a = parseArgs(Deno.args);
  if (a.seed !== undefined) Deno.exit(replayOne(a, a.seed));
  Deno.exit(campaign(a, a.seeds ?? 100));
}
