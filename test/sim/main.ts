/**
 * The simulator's command line.
 *
 *   deno task sim --seed N [--nodes 3|5] [--steps M] [--trace]      replay one seed exactly
 *   deno task sim --seeds N [--first S] [--steps M] [--nodes 3|5]   run a campaign
 *   add --broken commit-older|ack-early to run against a deliberately broken core or driver
 *   add --driver to run the real NodeDriver on fake ports instead of the RawNode ready loop
 *     (with --app broker for the broker state machine, --broken append-early [--no-ack-check]
 *     for a log port that acknowledges before its fsync)
 *
 * A campaign prints a progress line on stderr and ends with exactly
 * `sim: <seeds> seeds, <steps> steps, <violations> violations`; it exits 1 on any violation,
 * printing each violating seed and the command that replays it.
 *
 * @module
 */

import { replayCommand, runCampaign } from "./core/campaign.ts";
import { nodesForSeed } from "./core/settings.ts";
import { type DriverRunOptions, runDriverCampaign, runDriverSeed } from "./driver/driver_run.ts";
import { type RunOptions, type RunResult, runSeed } from "./core/run.ts";

interface Args {
  seed?: number;
  seeds?: number;
  first: number;
  steps: number;
  nodes?: 3 | 5;
  trace: boolean;
  broken?: "commit-older" | "ack-early" | "append-early" | "stale-conf";
  driver: boolean;
  app?: "broker";
  noAckCheck: boolean;
  /** Every seed with production settings (by default a quarter of them, `isProductionSeed`). */
  production: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    first: 1,
    steps: 500,
    trace: false,
    driver: false,
    noAckCheck: false,
    production: false,
  };
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
    else if (flag === "--driver") a.driver = true;
    else if (flag === "--no-ack-check") a.noAckCheck = true;
    else if (flag === "--production") a.production = true;
    else if (flag === "--app") {
      if (argv[++i] !== "broker") throw new Error("Cannot read --app: expected broker");
      a.app = "broker";
    } else if (flag === "--nodes") {
      const n = num();
      if (n !== 3 && n !== 5) throw new Error("Cannot read --nodes: expected 3 or 5");
      a.nodes = n;
    } else if (flag === "--broken") {
      const b = argv[++i];
      if (
        b !== "commit-older" && b !== "ack-early" && b !== "append-early" && b !== "stale-conf"
      ) {
        throw new Error(
          "Cannot read --broken: expected commit-older, ack-early, append-early or stale-conf",
        );
      }
      a.broken = b;
      // The stale membership shows only with the production hard-state thresholds.
      if (b === "stale-conf") a.production = true;
    } else throw new Error(`Cannot run the simulator: unknown argument ${flag}`);
  }
  // append-early breaks a port of the driver; the other two break the RawNode sim's own loop.
  if (a.broken !== undefined && a.driver !== (a.broken === "append-early")) {
    throw new Error(`Cannot run --broken ${a.broken} ${a.driver ? "with" : "without"} --driver`);
  }
  if (!a.driver && (a.app || a.noAckCheck)) {
    throw new Error("Cannot run --app or --no-ack-check without --driver");
  }
  return a;
}

function driverOptions(a: Args): Partial<DriverRunOptions> {
  return {
    ...(a.app ? { app: a.app } : {}),
    ...(a.broken === "append-early" ? { portFaults: { appendResolvesEarly: true } } : {}),
    ...(a.noAckCheck ? { checkAcks: false } : {}),
    ...(a.production ? { production: true } : {}),
  };
}

/** The flags that replay the same variant. */
function extraFlags(a: Args): string {
  return (a.driver ? " --driver" : "") + (a.app ? ` --app ${a.app}` : "") +
    (a.broken ? ` --broken ${a.broken}` : "") + (a.noAckCheck ? " --no-ack-check" : "") +
    (a.production ? " --production" : "");
}

function brokenOptions(a: Args): Partial<RunOptions> {
  const production = a.production ? { production: true } : {};
  if (a.broken === "commit-older") return { commitOlderTermEntriesByCount: true, ...production };
  if (a.broken === "ack-early") return { driverFaults: { ackBeforePersist: true }, ...production };
  if (a.broken === "stale-conf") {
    return { driverFaults: { staleConfOnRestart: true }, ...production };
  }
  return production;
}

async function replayOne(a: Args, seed: number): Promise<number> {
  const base = { seed, nodes: nodesForSeed(seed, a.nodes), steps: a.steps, trace: a.trace };
  const r: RunResult = a.driver
    ? await runDriverSeed({ ...base, ...driverOptions(a) })
    : runSeed({ ...base, ...brokenOptions(a) });
  if (a.trace) { for (const line of r.trace) console.log(line); }
  for (const v of r.violations) {
    console.log(`violation ${v.invariant} at step ${v.step}: ${v.message}`);
  }
  console.log(`sim: 1 seeds, ${r.steps} steps, ${r.violations.length} violations`);
  return r.violations.length > 0 ? 1 : 0;
}

async function campaign(a: Args, seeds: number): Promise<number> {
  const started = Date.now();
  let lastPrint = 0;
  const enc = new TextEncoder();
  const base = { firstSeed: a.first, seeds, steps: a.steps, nodes: a.nodes };
  // A progress line only on a terminal: redirected to a file, it would fill it with lines.
  const onTerminal = Deno.stderr.isTerminal();
  const progress = (done: number, steps: number, fails: number) => {
    if (!onTerminal) return;
    const now = Date.now();
    if (now - lastPrint < 250 && done < seeds) return;
    lastPrint = now;
    const rate = Math.round(done / Math.max(0.001, (now - started) / 1000));
    Deno.stderr.writeSync(
      enc.encode(
        `\rsim: ${done}/${seeds} seeds, ${steps} steps, ${fails} failing, ${rate} seeds/s `,
      ),
    );
  };
  const res = a.driver
    ? await runDriverCampaign({ ...base, ...driverOptions(a) }, progress)
    : runCampaign({ ...base, ...brokenOptions(a) }, progress);
  if (onTerminal) Deno.stderr.writeSync(enc.encode("\n"));
  const extra = extraFlags(a);
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

const HELP = `Usage:
  deno task sim --seed N [--nodes 3|5] [--steps M] [--trace]     replay one seed exactly
  deno task sim --seeds N [--first S] [--steps M] [--nodes 3|5]  run a campaign (default 100 seeds)

Options:
  --seed N         replay seed N (prints its violations; --trace prints every step)
  --seeds N        run N seeds, starting at --first (default 1)
  --steps M        simulator steps per seed (default 500)
  --nodes 3|5      cluster size (default: even seeds 3, odd seeds 5)
  --trace          print the trace of a replayed seed
  --driver         run the real NodeDriver on fake ports instead of the RawNode ready loop
  --app broker     (with --driver) the broker as the replicated state machine
  --broken commit-older|ack-early|stale-conf   a deliberately broken core or loop (without
                   --driver; stale-conf: the hard-state saving before the production-settings fix, implies --production)
  --broken append-early             (with --driver) a log port that acknowledges before fsync
  --no-ack-check   (with --driver) do not check durable acknowledgements directly
  --production     every seed with production settings (by default seeds 3 and 4 of every 8:
                   snapshot and hard-state thresholds of a real node, restarts, partitions and
                   membership changes mixed, removed nodes left running)
  -h, --help       this text

A campaign ends with "sim: <seeds> seeds, <steps> steps, <violations> violations" and exits 1 on
any violation, printing the command that replays each violating seed.`;

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(HELP);
    Deno.exit(0);
  }
  const a = parseArgs(Deno.args);
  if (a.seed !== undefined) Deno.exit(await replayOne(a, a.seed));
  Deno.exit(await campaign(a, a.seeds ?? 100));
}
