/**
 * Reproduction tool: asks three real nodes for leadership transfers, N times, and records what
 * each node said (leader, term) every 100 ms for 15 s after each 202. Prints one line per attempt
 * and, for an attempt after which no other node led, the timeline and the nodes' log lines.
 *
 *   deno run -A test/e2e/transfer_repro.ts [attempts=20] [--wait]
 *
 * `--main <path>` runs the nodes from another tree's src/main.ts (an A/B against older code).
 * `--wait` asks with `"wait": true` and prints each answer's status (200 moved, 409 abandoned).
 *
 * @module
 */

import { Nodes, sleep } from "./nodes.ts";
import { call } from "./http.ts";

const mainAt = Deno.args.indexOf("--main");
const main = mainAt >= 0 ? Deno.args[mainAt + 1] : undefined;
const attempts = Number(
  Deno.args.find((a, i) => !a.startsWith("--") && (mainAt < 0 || i !== mainAt + 1)) ?? 20,
);
const wait = Deno.args.includes("--wait");
const answers = new Map<number, number>();
const nodes = await Nodes.start({ count: 3, ...(main === undefined ? {} : { main }) });
let failed = 0;
try {
  await call(nodes.url(await nodes.waitLeader()), "PUT", "/v1/queues/idem", { body: {} });
  for (let i = 0; i < attempts; i++) {
    const leader = await nodes.waitLeader(30_000);
    const logMarks = new Map(nodes.ids.map((id) => [id, nodes.logs(id).length]));
    const t0 = Date.now();
    const moved = await call(nodes.url(leader), "POST", "/v1/cluster/leadership-transfer", {
      body: wait ? { wait } : {},
      timeoutMs: 20_000,
    });
    answers.set(moved.status, (answers.get(moved.status) ?? 0) + 1);
    const timeline: string[] = [`${Date.now() - t0}ms answer ${moved.status} ${moved.text}`];
    let outcome = "none";
    let last = "";
    while (Date.now() - t0 < 15_000) {
      const views = await Promise.all(
        nodes.ids.map((id) => nodes.cluster(id, 2_000).catch(() => undefined)),
      );
      const line = views.map((v, k) => `${nodes.ids[k]}:${v?.leaderId ?? "-"}@${v?.term ?? "?"}`)
        .join(" ");
      if (line !== last) timeline.push(`${Date.now() - t0}ms ${line}`);
      last = line;
      const leaders = new Set(views.map((v) => v?.leaderId ?? ""));
      const [only] = [...leaders];
      if (leaders.size === 1 && only && only !== leader) {
        outcome = `moved to ${only} in ${Date.now() - t0} ms`;
        break;
      }
      await sleep(100);
    }
    console.log(`attempt ${i}: from ${leader}: ${outcome}`);
    if (outcome === "none") {
      failed++;
      console.log(timeline.join("\n"));
      for (const id of nodes.ids) {
        console.log(`--- ${id} log\n${nodes.logs(id).slice(logMarks.get(id)).slice(-4000)}`);
      }
    }
  }
} finally {
  await nodes.stop();
}
console.log(`${failed} of ${attempts} transfers did not move leadership within 15 s`);
console.log(`answers: ${JSON.stringify(Object.fromEntries(answers))}`);
