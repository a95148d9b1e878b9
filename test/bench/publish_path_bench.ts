/**
 * The leader's HTTP-layer publish path alone, in process: a stream `req` frame's direct call
 * (a `DirectCall` run by the direct routes, as `stream.ts` runs it) through the publish handler, the
 * write pipeline and the answer, with a node port that packs each proposal as the leader's batcher
 * does (`proposalBytes`) and answers it applied at once (no Raft, no apply). Prints the CPU of
 * this process per publish (`/proc`), medians of `--rounds`, for:
 * - `client`: what the TypeScript client sends (`{id, body}` as JSON text and a session header);
 * - `stream`: a raw stream publish (`{body}`, no headers).
 * For comparing two versions of the request path without a cluster's noise (run each alone).
 *
 * Usage: deno run -A test/bench/publish_path_bench.ts [--rounds 7] [--count 200000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createApp, type NodePort } from "../../src/http/mod.ts";
import { proposalBytes } from "../../src/broker/mod.ts";
import type { Proposal } from "../../src/broker/mod.ts";
import { silentLogger } from "../../src/log.ts";
import { cpuSeconds } from "./_cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "7" },
    count: { type: "string", default: "200000" },
  },
});
const ROUNDS = Number(values.rounds);
const COUNT = Number(values.count);
const BODY_TEXT = "x".repeat(256);
const PATH = "/v1/queues/q/messages";

let seq = 0;
/** A leader that packs the proposal and answers it applied (a fresh message each time). */
const node = {
  nodeId: "n1",
  leaderToAsk: () => undefined,
  propose(proposal: Proposal) {
    proposalBytes(proposal);
    const cmd = proposal.cmd as { message: { id?: string } };
    return Promise.resolve({
      ok: true,
      result: { ok: true, seq: ++seq, id: cmd.message.id ?? `q.${seq}`, duplicate: false },
    });
  },
};
const app = createApp({ node: node as unknown as NodePort, log: silentLogger });
const signal = new AbortController().signal;
const never = () => {
  throw new Error("no app request here");
};

/** A direct call as a stream's `req` frame makes it (`DirectCall`), run at once. */
const run = (headers: Record<string, string>, text: string) =>
  app.inProcess("POST", PATH, undefined, headers, text, signal, never)!;

const calls: Record<string, (i: number) => Promise<unknown>> = {
  client: (i) =>
    run(
      { "quorumq-session": `7/${i + 1}/${i + 1}`, "content-type": "application/json" },
      JSON.stringify({ id: `r1-client-${i}`, body: BODY_TEXT }),
    ),
  stream: () => run({ "content-type": "application/json" }, JSON.stringify({ body: BODY_TEXT })),
};

/** CPU µs per publish of `count` publishes of `kind`, 256 in flight. */
async function round(kind: string, count: number): Promise<number> {
  const make = calls[kind];
  const t0 = cpuSeconds();
  for (let i = 0; i < count; i += 256) {
    const batch: Promise<unknown>[] = [];
    for (let k = 0; k < 256; k++) batch.push(make(i + k));
    const outcomes = await Promise.all(batch);
    const first = outcomes[0] as { status: number };
    if (first.status !== 201) throw new Error(`publish: ${JSON.stringify(first)}`);
  }
  return (cpuSeconds() - t0) * 1e6 / count;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results: Record<string, number[]> = { client: [], stream: [] };
await round("client", COUNT / 4);
await round("stream", COUNT / 4);
for (let r = 0; r < ROUNDS; r++) {
  for (const kind of Object.keys(results)) {
    const us = await round(kind, COUNT);
    results[kind].push(us);
    console.log(`round ${r + 1} ${kind}: ${us.toFixed(2)} µs CPU per publish`);
  }
}
console.log(JSON.stringify({
  load: Deno.loadavg(),
  medians: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])),
}));
