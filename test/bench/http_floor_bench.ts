/**
 * `Deno.serve`'s own floor for the peers kit's one-message HTTP publish: the server CPU per
 * request of a bare Deno process answering each POST with a fixed 201, under the kit's client
 * (Node.js with undici's `request()`, 256 requests in flight, `{id, body}` of a 256-character
 * body: `_undici.ts`). What quorumq's leader spends above this is its own. Handlers (`--handlers`):
 * - `bare`: the body is not read; `new Response(text, { status: 201, headers })`;
 * - `text`: `await request.text()` first;
 * - `bytes`: `await request.bytes()` first (what `body.ts` reads), then `JSON.parse` of its text;
 * - `fast`: as `bytes`, the answer by `jsonTextResponse` (`src/http/fast_response.ts`);
 * - `fast200`: as `bytes`, a plain 200 answer (Deno's fast static response), for comparison;
 * - `app`: quorumq's HTTP layer (`createApp`, as `src/server` serves it) over a node that packs
 *   each proposal as the leader's batcher does and answers it applied at once (no Raft, no
 *   broker): what our request path costs above `Deno.serve`, under the real client.
 * The answer's text is a publish's (`{"id":"…","duplicate":false}` of the same length).
 *
 * Each run starts a server process per handler (alternating), warms it with 2,000 requests and
 * measures `--count` more; it prints the server's and the client's CPU per request and the
 * rate, then the medians. Run it under `nice -n 5` at load (CPU per request is the figure);
 * throughput only under the priority lock.
 *
 * `--heap-prof-dir <dir>`: each server samples what it allocates during the measured part (V8's
 * sampling heap profiler, collected objects too) and writes it there as a `.heapprofile`; the
 * bench prints the bytes allocated per request it adds up (an estimate: sampled every 4 KiB).
 *
 * `--checkout <dir>` takes the `app` handler's code from another checkout of the project (an A/B
 * in one sitting: run the bench once per checkout, alternating). With `--cpu-prof-dir <dir>` each server writes a V8 CPU profile of its whole life there
 * (`test/bench/profile_summary.ts` summarizes it).
 *
 * Usage: deno run -A test/bench/http_floor_bench.ts [--runs 3] [--count 20000]
 *   [--handlers bare,text,bytes,fast,fast200,app] [--undici-dir /tmp/qq-undici] [--cpu-prof-dir d]
 *   [--checkout dir]
 *   [--heap-prof-dir d]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { freePorts, sleep } from "../e2e/nodes.ts";
import { cpuSeconds } from "./_cpu.ts";
import { ensureUndici, UndiciRun } from "./_undici.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    count: { type: "string", default: "20000" },
    handlers: { type: "string", default: "bare,text,bytes,fast,fast200,app" },
    "undici-dir": { type: "string", default: "/tmp/qq-undici" },
    serve: { type: "string" },
    port: { type: "string" },
    "cpu-prof-dir": { type: "string" },
    checkout: { type: "string" },
    "heap-prof-dir": { type: "string" },
  },
});

const ANSWER = JSON.stringify({ id: "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b", duplicate: false });
const HEADERS = { "content-type": "application/json" };

/** The server process: `--serve <handler> --port <n>`. */
async function serve(handler: string, port: number): Promise<void> {
  const { jsonTextResponse } = await import("../../src/http/fast_response.ts");
  const handlers: Record<string, (r: Request) => Response | Promise<Response>> = {
    bare: () => new Response(ANSWER, { status: 201, headers: HEADERS }),
    text: async (r) => {
      await r.text();
      return new Response(ANSWER, { status: 201, headers: HEADERS });
    },
    bytes: async (r) => {
      JSON.parse(new TextDecoder().decode(await r.bytes()));
      return new Response(ANSWER, { status: 201, headers: HEADERS });
    },
    fast: async (r) => {
      JSON.parse(new TextDecoder().decode(await r.bytes()));
      return jsonTextResponse(201, ANSWER);
    },
    fast200: async (r) => {
      JSON.parse(new TextDecoder().decode(await r.bytes()));
      return new Response(ANSWER, { headers: HEADERS });
    },
  };
  if (handler === "app") handlers.app = await appHandler();
  const handle = handlers[handler];
  if (handle === undefined) throw new Error(`no handler ${handler}`);
  Deno.serve({ port, hostname: "127.0.0.1", onListen: () => console.log("listening") }, handle);
  // Ended by the bench (SIGTERM: exiting writes a `--cpu-prof` profile); at most an hour, so a
  // lost one does not run on.
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  const heapDir = values["heap-prof-dir"];
  if (heapDir !== undefined) {
    const { inspectorProfiler } = await import("./_inspector_profiler.ts");
    const p = await inspectorProfiler({
      dir: heapDir,
      name: handler,
      heap: true,
      heapIntervalBytes: 4096,
    });
    // SIGUSR1: the measured part begins; SIGUSR2: it ended, write the profile.
    Deno.addSignalListener("SIGUSR1", () => p.report(p.start()));
    Deno.addSignalListener("SIGUSR2", () => p.report(p.save().then(() => console.log("saved"))));
  }
  await sleep(3_600_000);
  Deno.exit(0);
}

/** quorumq's app over a node that answers every publish applied at once (see the module doc). */
async function appHandler(): Promise<(r: Request) => Response | Promise<Response>> {
  const root = values.checkout ?? new URL("../..", import.meta.url).pathname;
  const { createApp } = await import(`${root}/src/http/mod.ts`);
  const { proposalBytes } = await import(`${root}/src/broker/mod.ts`);
  const { silentLogger } = await import(`${root}/src/log.ts`);
  const { isPlainApiPath } = await import(`${root}/src/server/listener.ts`);
  let seq = 0;
  const node = {
    nodeId: "n1",
    leaderToAsk: () => undefined,
    onApplied: () => () => {},
    propose(proposal: { cmd: unknown }) {
      proposalBytes(proposal as never);
      const cmd = proposal.cmd as { message: { id?: string } };
      return Promise.resolve({
        ok: true,
        result: { ok: true, seq: ++seq, id: cmd.message.id ?? `q.${seq}`, duplicate: false },
      });
    },
  };
  const app = createApp({ node: node as never, log: silentLogger });
  return (r) => {
    if (!isPlainApiPath(r.url)) throw new Error(`not an API path: ${r.url}`);
    return app.fetch(r);
  };
}

/** Has `server` write its heap profile; the bytes it holds. */
async function heapBytes(server: Deno.ChildProcess, dir: string, handler: string) {
  const before = new Set([...Deno.readDirSync(dir)].map((e) => e.name));
  server.kill("SIGUSR2");
  // Bounded: 100 polls of 100 ms for the file to appear and be whole.
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    const file = [...Deno.readDirSync(dir)].find((e) =>
      !before.has(e.name) && e.name.startsWith(`${handler}-`)
    );
    if (file === undefined) continue;
    try {
      const profile = JSON.parse(Deno.readTextFileSync(`${dir}/${file.name}`));
      return sumSelf(profile.head);
    } catch {
      // still being written
    }
  }
  throw new Error("the server wrote no heap profile");
}

interface HeapNode {
  selfSize: number;
  children: HeapNode[];
}

/** Bytes allocated under `node` (its own and its callees'). */
function sumSelf(node: HeapNode): number {
  let total = 0;
  const stack = [node];
  // Bounded by the profile's nodes: each is pushed once.
  while (stack.length > 0) {
    const n = stack.pop()!;
    total += n.selfSize;
    stack.push(...n.children);
  }
  return total;
}

/** One measured run of `handler`: server and client CPU per request, requests/s. */
async function measure(handler: string, undici: string, count: number) {
  const [port] = freePorts(1);
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(values["cpu-prof-dir"] ? ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof-dir"]}`] : []),
      new URL(import.meta.url).pathname,
      ...["--serve", handler, "--port", `${port}`],
      ...(values.checkout ? ["--checkout", values.checkout] : []),
      ...(values["heap-prof-dir"] ? ["--heap-prof-dir", values["heap-prof-dir"]] : []),
    ],
    stdout: "null",
  }).spawn();
  const heapDir = values["heap-prof-dir"];
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${url}/v1/queues/floor/messages`, { method: "POST", body: "{}" })
        .then(
          async (r) => (await r.body?.cancel(), true),
          () => false,
        );
      if (ok) break;
      await sleep(100);
    }
    const client = await UndiciRun.start({
      undici,
      url,
      queue: "floor",
      tag: "t",
      warm: 2000,
      count,
      inflight: 256,
    });
    if (heapDir !== undefined) {
      server.kill("SIGUSR1");
      await sleep(300);
    }
    const s0 = cpuSeconds(server.pid);
    const result = await client.go();
    const s1 = cpuSeconds(server.pid);
    const allocated = heapDir === undefined ? undefined : await heapBytes(server, heapDir, handler);
    return {
      allocated: allocated === undefined ? undefined : allocated / count,
      server: (s1 - s0) / count * 1e6,
      client: result.cpuSeconds / count * 1e6,
      rate: count / result.seconds,
    };
  } finally {
    server.kill("SIGTERM");
    await server.status;
  }
}

async function main(): Promise<void> {
  const undici = await ensureUndici(values["undici-dir"]);
  const names = values.handlers.split(",");
  const out: Record<string, number[]> = {};
  const add = (k: string, v: number) => (out[k] ??= []).push(v);
  const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  console.error(`load average before: ${load()}`);
  for (let run = 0; run < Number(values.runs); run++) {
    for (const name of names) {
      const m = await measure(name, undici, Number(values.count));
      add(`${name} server µs/req`, m.server);
      add(`${name} client µs/req`, m.client);
      add(`${name} req/s`, m.rate);
      if (m.allocated !== undefined) add(`${name} bytes/req`, m.allocated);
      console.error(
        `run ${run + 1} ${name}: server ${m.server.toFixed(1)} µs/req, client ${
          m.client.toFixed(1)
        }, ${m.rate.toFixed(0)} req/s${
          m.allocated === undefined ? "" : `, ${m.allocated.toFixed(0)} bytes allocated/req`
        }`,
      );
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const medians = Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, Number(median(v).toFixed(1))]),
  );
  console.log(JSON.stringify({ runs: Number(values.runs), medians, loadAfter: load() }));
}

if (values.serve !== undefined) await serve(values.serve, Number(values.port));
else await main();
