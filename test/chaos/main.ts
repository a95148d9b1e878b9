/**
 * `deno task chaos --nodes 5 --duration 120 --seed N`: one chaos campaign against real nodes.
 * Prints a live status line on stderr, a summary table, and ends with
 * `chaos: <acked> acked, <lost> lost, <duplicated> duplicated, <violations> violations`.
 * Exits 1 on any violation; the history stays under test/chaos/runs/<stamp>-seed<N>/.
 *
 * @module
 */

import { FAULT_KINDS, type FaultKind } from "./nemesis.ts";
import { runChaos } from "./run.ts";
import { summaryLines } from "./summary.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : fallback;
}

if (Deno.args.includes("--help")) {
  console.log(
    "Usage: deno task chaos [--nodes 3|5] [--duration <s>] [--seed <n>] " +
      "[--kinds k1,k2 | --exclude k1,k2] [--network auto|netns|loopback] " +
      "[--transport http|stream|mqtt [--no-link-cuts]]\n" +
      "  --transport the workers' requests over HTTP (default) or the stream (/v1/stream)\n" +
      "             (queues and topics), or mqtt: MQTT.js publishers and subscribers on the\n" +
      "             nodes' MQTT listeners (QoS 1 and 2, persistent sessions), each client's\n" +
      "             link also cut every 2-6 s unless --no-link-cuts\n" +
      "  --network  netns: each node in its own network namespace, adding the net-* kinds\n" +
      "             (iptables DROP rules; needs root, ip and iptables); loopback: all nodes on\n" +
      "             127.0.0.1, links cut through the transport's fault seam only; auto (default):\n" +
      "             netns when this machine allows it.\n" +
      "Fault kinds: " + FAULT_KINDS.join(", "),
  );
  Deno.exit(0);
}
const count = Number(arg("nodes", "3"));
if (count !== 3 && count !== 5) {
  console.error("chaos: --nodes must be 3 or 5");
  Deno.exit(2);
}
const durationS = Number(arg("duration", "60"));
const seed = Number(arg("seed", String(Date.now() % 1_000_000)));
if (!Number.isFinite(durationS) || durationS <= 0 || !Number.isInteger(seed)) {
  console.error("chaos: --duration must be positive seconds and --seed an integer");
  Deno.exit(2);
}
const listed = (name: string) => arg(name, "").split(",").filter((k) => k !== "") as FaultKind[];
const unknownKinds = [...listed("kinds"), ...listed("exclude")].filter((k) =>
  !FAULT_KINDS.includes(k)
);
if (unknownKinds.length > 0) {
  console.error(`chaos: unknown fault kinds ${unknownKinds.join(", ")}`);
  Deno.exit(2);
}
const network = arg("network", "auto");
if (network !== "auto" && network !== "netns" && network !== "loopback") {
  console.error("chaos: --network must be auto, netns or loopback");
  Deno.exit(2);
}
const transport = arg("transport", "http");
if (transport !== "http" && transport !== "stream" && transport !== "mqtt") {
  console.error("chaos: --transport must be http, stream or mqtt");
  Deno.exit(2);
}
const kinds = (listed("kinds").length > 0 ? listed("kinds") : [...FAULT_KINDS])
  .filter((k) => !listed("exclude").includes(k));
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const runDir = new URL(`./runs/${stamp}-seed${seed}`, import.meta.url).pathname;
const encoder = new TextEncoder();
let lastStatus = 0;
const onTerminal = Deno.stderr.isTerminal();
const result = await runChaos({
  nodes: count,
  durationMs: durationS * 1000,
  seed,
  runDir,
  kinds,
  network,
  transport,
  mqttLinkCuts: !Deno.args.includes("--no-link-cuts"),
  // The status line rewrites itself on a terminal; a pipe or a log file gets one every 10 s.
  status: (line) => {
    if (Date.now() - lastStatus < (onTerminal ? 300 : 10_000)) return;
    lastStatus = Date.now();
    Deno.stderr.writeSync(encoder.encode(onTerminal ? `\r\x1b[K${line}` : `${line}\n`));
  },
  log: (line) => Deno.stderr.writeSync(encoder.encode(`${onTerminal ? "\r\x1b[K" : ""}${line}\n`)),
}).catch((e) => {
  console.error(`\nchaos: the run could not go on: ${(e as Error)?.message ?? e}`);
  Deno.exit(2);
});
if (onTerminal) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
console.log(`seed ${seed}, ${count} nodes, ${durationS} s; history: ${result.historyPath}`);
if (kinds.length < FAULT_KINDS.length) console.log(`fault kinds: ${kinds.join(", ")}`);
for (const line of summaryLines(result)) console.log(line);
Deno.exit(result.check.violations === 0 ? 0 : 1);
