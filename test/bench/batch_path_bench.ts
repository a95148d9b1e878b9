/**
 * The leader's own JavaScript for one 100-message batch publish (the peers' B100 request: ids and
 * 256-byte string bodies), step by step, with no node: read the body from a `Request` and parse
 * it (`readJsonBody`), check it (`validatePublish`), make the messages (`bodiesInPlace`, else
 * `toMessageInputs`), pack the proposal (`proposalBytes`), write the answer (`batchPublished`).
 * Each figure is the least time per request over many short batches (the least is the one the
 * other processes of a busy box disturbed least), the median of `--rounds` rounds.
 *
 * `--checkout <dir>` runs the same steps from another checkout's modules too, alternating, for a
 * before/after comparison in one sitting (a checkout without `batch_bodies.ts` makes its messages
 * with `toMessageInputs`).
 *
 * Usage: deno run -A test/bench/batch_path_bench.ts [--rounds 5] [--checkout dir]
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "5" }, checkout: { type: "string" } },
});
const ROUNDS = Number(values.rounds);
const BATCH = 100;
const BODY_TEXT = "x".repeat(256);

interface Steps {
  readJsonBody(request: Request, maxBytes: number): Promise<{ bytes: Uint8Array; json: unknown }>;
  validatePublish(json: unknown): unknown;
  toMessageInputs(ms: readonly unknown[]): unknown[];
  bodiesInPlace?: (body: { bytes: Uint8Array }, json: unknown) => unknown[] | undefined;
  proposalBytes(proposal: unknown): Uint8Array;
  batchPublished(v: { results: readonly unknown[] }): { text: string };
}

/** The steps from the checkout at `root` (a directory URL). */
async function stepsOf(root: URL): Promise<Steps> {
  const at = (path: string) => import(new URL(path, root).href);
  const [body, handlers, render, envelope] = await Promise.all([
    at("src/http/body.ts"),
    at("src/http/handlers_messages.ts"),
    at("src/http/render.ts"),
    at("src/broker/envelope.ts"),
  ]);
  const cut = await at("src/http/batch_bodies.ts").catch(() => undefined);
  return { ...body, ...handlers, ...render, ...envelope, bodiesInPlace: cut?.bodiesInPlace };
}

const requests = Array.from({ length: 64 }, (_, r) =>
  new TextEncoder().encode(JSON.stringify({
    messages: Array.from({ length: BATCH }, (_, k) => ({ id: `run-${r}-${k}`, body: BODY_TEXT })),
  })));
const results = {
  results: Array.from({ length: BATCH }, (_, k) => ({
    ok: true,
    seq: 1_000_000 + k,
    id: `run-5-${k}`,
    duplicate: false,
  })),
};

function request(bytes: Uint8Array): Request {
  return new Request("http://127.0.0.1/v1/queues/q/messages", {
    method: "POST",
    body: bytes as Uint8Array<ArrayBuffer>,
    headers: { "content-type": "application/json", "content-length": String(bytes.length) },
  });
}

/** One request's steps; `upTo` says how far (the figures are the differences). */
async function once(s: Steps, i: number, upTo: number): Promise<void> {
  const body = await s.readJsonBody(request(requests[i & 63]), 1 << 20);
  if (upTo < 1) return;
  const req = s.validatePublish(body.json) as { messages: unknown[] };
  if (upTo < 2) return;
  const messages = (req === body.json ? s.bodiesInPlace?.(body, req) : undefined) ??
    s.toMessageInputs(req.messages);
  if (upTo < 3) return;
  s.proposalBytes({ cmd: { op: "publish_batch", queue: "q", messages } });
  if (upTo < 4) return;
  s.batchPublished(results);
}

/** The least µs per request over 300 batches of 20. */
async function least(s: Steps, upTo: number): Promise<number> {
  let min = Infinity;
  for (let b = 0; b < 300; b++) {
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) await once(s, i, upTo);
    min = Math.min(min, (performance.now() - t0) * 1000 / 20);
  }
  return min;
}

const STEPS = ["read+parse", "validate", "messages", "pack", "answer"];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const sides: [string, Steps][] = [["this", await stepsOf(new URL("../../", import.meta.url))]];
if (values.checkout !== undefined) {
  const dir = values.checkout.endsWith("/") ? values.checkout : `${values.checkout}/`;
  sides.unshift(["checkout", await stepsOf(new URL(`file://${dir}`))]);
}
console.error(`load average before: ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
const figures: Record<string, number[][]> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, s] of sides) {
    const cumulative: number[] = [];
    for (let upTo = 0; upTo < STEPS.length; upTo++) cumulative.push(await least(s, upTo));
    (figures[name] ??= []).push(cumulative);
    console.error(`round ${round + 1} ${name}: ${cumulative.map((x) => x.toFixed(1)).join(" ")}`);
  }
}
const out: Record<string, Record<string, number>> = {};
for (const [name, rounds] of Object.entries(figures)) {
  const total = median(rounds.map((c) => c[c.length - 1]));
  const row: Record<string, number> = {};
  STEPS.forEach((step, k) => {
    row[`${step} µs`] = Number(median(rounds.map((c) => c[k] - (k > 0 ? c[k - 1] : 0))).toFixed(1));
  });
  row["total µs/request"] = Number(total.toFixed(1));
  row["µs/msg"] = Number((total / BATCH).toFixed(2));
  out[name] = row;
}
console.log(
  JSON.stringify({ rounds: ROUNDS, batch: BATCH, figures: out, loadAfter: Deno.loadavg() }),
);
