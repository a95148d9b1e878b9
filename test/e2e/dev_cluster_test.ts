/**
 * `src/dev_cluster.ts` (`deno task cluster`) started for real on free ports: it prints where
 * each node listens and the leader, the nodes serve and replicate, and SIGINT stops them all.
 *
 * @module
 */

import assert from "node:assert/strict";
import { call } from "./http.ts";

const DEV_CLUSTER = new URL("../../src/dev_cluster.ts", import.meta.url).pathname;

/** A base port with the next two ports free too. */
function freeBasePort(): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const held: Deno.Listener[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(Deno.listen({ hostname: "127.0.0.1", port: base + i }));
      return base;
    } catch {
      // taken: try another
    } finally {
      for (const l of held) l.close();
    }
  }
  throw new Error("No three consecutive free ports found in 50 tries");
}

/** Reads stdout lines into `lines` and resolves `until` once a line matches. */
function watch(stream: ReadableStream<Uint8Array>, lines: string[]) {
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  const done = (async () => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        for (const w of waiters.filter((w) => w.re.test(line))) w.resolve(line);
      }
    }
  })();
  const until = (re: RegExp, timeoutMs: number) => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`No line like ${re} within ${timeoutMs} ms:\n${lines.join("\n")}`)),
        timeoutMs,
      );
      waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  };
  return { until, done };
}

/** Waits until `url` is ready (`/readyz`: it knows the leader and applied what it knows committed). */
async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} was not ready (/readyz) within ${timeoutMs} ms`);
}

Deno.test("e2e dev cluster: three nodes on --base-port, leader printed, SIGINT stops all", async () => {
  const base = freeBasePort();
  const dir = await Deno.makeTempDir({ prefix: "quorumq-dev-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DEV_CLUSTER, "--base-port", String(base), "--data", `${dir}/data`],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines: string[] = [];
  const out = watch(child.stdout, lines);
  const urls = [0, 1, 2].map((i) => `http://127.0.0.1:${base + i}`);
  try {
    await out.until(/^cluster \| secret: \S+/, 10_000);
    for (const [i, url] of urls.entries()) {
      await out.until(new RegExp(`^cluster \\| n${i + 1} listens on ${url}`), 10_000);
    }
    const leaderLine = await out.until(/^cluster \| leader: n[123]$/, 30_000);
    const leader = leaderLine.slice(leaderLine.lastIndexOf(" ") + 1);
    // Node logs come through with their prefix.
    await out.until(/^n[123] \| \{.*"event":"leader_changed"/, 5_000);
    // The leader line needs a majority only: on a loaded machine the third node may still be
    // starting, or not yet have heard from the leader (it answers a write `no_leader` then, as it
    // should: CI failed so at load ~20), so wait (bounded) until every node is ready, as a load
    // balancer would, before talking to each of them.
    for (const url of urls) await waitReady(url, 20_000);
    const view = await call(urls[0], "GET", "/v1/cluster");
    assert.equal(view.body.leaderId, leader, view.text);
    assert.equal((await call(urls[0], "PUT", "/v1/queues/dev", { body: {} })).status, 201);
    const pub = await call(urls[1], "POST", "/v1/queues/dev/messages", { body: { body: 1 } });
    assert.equal(pub.status, 201, pub.text);
    const q = await call(urls[2], "GET", "/v1/queues/dev");
    assert.equal(q.body.published, 1, q.text);
  } finally {
    child.kill("SIGINT");
  }
  const status = await child.status;
  await out.done;
  assert.equal(status.code, 0, lines.join("\n"));
  for (const id of ["n1", "n2", "n3"]) {
    assert.ok(lines.some((l) => l === `cluster | ${id} stopped (code 0)`), lines.join("\n"));
    assert.ok((await Deno.stat(`${dir}/data/${id}`)).isDirectory);
  }
  for (const url of urls) {
    await assert.rejects(() => fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }));
  }
  await Deno.remove(dir, { recursive: true });
});
