/**
 * The session soak: real node processes, `lanes` concurrent writers, each with its own session,
 * publishing without message ids (so only the session can tell a retry from a new write) as fast
 * as the cluster takes them; every lane keeps its first `early` answers unacknowledged (its
 * `lowest` stays there), so their stored answers must outlive the whole run. Then every early
 * write is sent again, half through the leader and half through a follower (which forwards), and
 * must answer `Idempotent-Replayed` with the seq it was first given. With `kills`, the leader is
 * SIGKILLed (and restarted) that many times during the writes; lanes retry unknown outcomes with
 * the same (session, seq). At the end the queue's `published` must equal the distinct writes:
 * one more would be a write applied twice.
 *
 * `deno task soak` runs the full version (300,000 writes, 64 lanes, 2 leader kills);
 * `test/e2e/session_soak_test.ts` a short one in CI.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Nodes, sleep } from "./nodes.ts";

export interface SoakOptions {
  readonly writes: number;
  readonly lanes: number;
  /** Early writes per lane kept unacknowledged and retried at the end. */
  readonly early: number;
  /** Leader kills during the writes. */
  readonly kills: number;
  readonly log?: (line: string) => void;
}

export interface SoakResult {
  readonly writes: number;
  readonly published: number;
  readonly retried: number;
  /** Retries whose answer was not a replay of the first answer. */
  readonly mismatches: readonly string[];
  /** Attempts that failed and were sent again under the same (session, seq). */
  readonly attemptRetries: number;
  readonly ratePerS: number;
  readonly kills: number;
}

const ATTEMPT_TIMEOUT_MS = 10_000;
/** Attempts of one write before the soak gives up on it (and fails). */
const ATTEMPTS_MAX = 200;

/** One write, sent until it has an answer: the same session, seq and body every time. */
async function send(
  urls: () => string[],
  session: number,
  seq: number,
  lowest: number,
  body: string,
  counter: { retries: number },
  prefer?: string,
): Promise<{ seq: number; replayed: boolean }> {
  let lastError = "";
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    const list = urls();
    const url = prefer ?? list[attempt % list.length];
    try {
      const res = await fetch(`${url}/v1/queues/soak/messages`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "quorumq-session": `${session}/${seq}/${lowest}`,
        },
        body,
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      const text = await res.text();
      if (res.status === 201 || res.status === 200) {
        return {
          seq: (JSON.parse(text) as { seq: number }).seq,
          replayed: res.headers.get("idempotent-replayed") === "true",
        };
      }
      lastError = `${res.status} ${text.slice(0, 200)}`;
      if (res.status < 500 && res.status !== 421) throw new Error(`Write refused: ${lastError}`);
    } catch (e) {
      if ((e as Error).message.startsWith("Write refused")) throw e;
      lastError = (e as Error).message;
    }
    counter.retries++;
    await sleep(Math.min(500, 20 * (attempt + 1)));
  }
  throw new Error(
    `Write ${session}/${seq} got no answer in ${ATTEMPTS_MAX} attempts: ${lastError}`,
  );
}

async function call(
  method: "PUT" | "POST",
  url: string,
  path: string,
  body: unknown,
): Promise<Response> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      if (res.ok) return res;
      await res.body?.cancel();
    } catch {
      // retried below
    }
    await sleep(100);
  }
  throw new Error(`${path} failed 100 times`);
}

/** Runs the soak on a fresh 3-node cluster (fsync on). */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  const nodes = await Nodes.start({ count: 3, storage: "fsync", keepLogs: false });
  try {
    const leader = await nodes.waitLeader();
    await (await call("PUT", nodes.url(leader), "/v1/queues/soak", {})).body?.cancel();
    const sessions: number[] = [];
    for (let lane = 0; lane < o.lanes; lane++) {
      const res = await call("POST", nodes.url(await nodes.waitLeader()), "/v1/sessions", {});
      sessions.push(((await res.json()) as { session: number }).session);
    }
    const urls = () => nodes.live().map((id) => nodes.url(id));
    const counter = { retries: 0 };
    const first = new Map<string, number>(); // "lane/seq" -> seq in the queue
    let next = 0;
    const perLane = new Array(o.lanes).fill(0);
    let killsDone = 0;
    const t0 = performance.now();
    const killer = (async () => {
      for (let k = 1; k <= o.kills; k++) {
        while (next < (o.writes * k) / (o.kills + 1)) await sleep(100);
        const id = await nodes.waitLeader();
        log(`killing leader ${id} after ${next} writes`);
        await nodes.kill(id);
        await sleep(1500);
        nodes.spawn(id);
        killsDone++;
      }
    })();
    await Promise.all(sessions.map(async (session, lane) => {
      while (next < o.writes) {
        next++;
        const seq = ++perLane[lane];
        // The early answers are never acknowledged, so the lowest unanswered seq stays 1: every
        // answer of the lane stays stored (~150 B each) and the early ones can be asked again.
        const r = await send(urls, session, seq, 1, body(lane, seq), counter);
        if (seq <= o.early) first.set(`${lane}/${seq}`, r.seq);
        if (next % 20_000 === 0) log(`${next} writes`);
      }
    }));
    const ratePerS = o.writes / ((performance.now() - t0) / 1000);
    await killer;
    const written = perLane.reduce((a, b) => a + b, 0);
    log(`${written} writes at ${ratePerS.toFixed(0)}/s; retrying the early ones`);
    // Every early write again: through the leader and through a follower.
    const mismatches: string[] = [];
    const leaderNow = await nodes.waitLeader();
    const follower = nodes.live().find((id) => id !== leaderNow)!;
    let retried = 0;
    await Promise.all(sessions.map(async (session, lane) => {
      for (let seq = 1; seq <= Math.min(o.early, perLane[lane]); seq++) {
        const via = seq % 2 === 0 ? nodes.url(leaderNow) : nodes.url(follower);
        const r = await send(urls, session, seq, 1, body(lane, seq), counter, via);
        retried++;
        const was = first.get(`${lane}/${seq}`);
        if (!r.replayed || r.seq !== was) {
          mismatches.push(
            `${lane}/${seq}: first seq ${was}, retry seq ${r.seq} replayed ${r.replayed}`,
          );
        }
      }
    }));
    const stats = await (await fetch(`${nodes.url(leaderNow)}/v1/queues/soak`)).json() as {
      published: number;
    };
    return {
      writes: written,
      published: stats.published,
      retried,
      mismatches,
      attemptRetries: counter.retries,
      ratePerS,
      kills: killsDone,
    };
  } finally {
    await nodes.stop();
  }
}

function body(lane: number, seq: number): string {
  return JSON.stringify({ body: { lane, seq } });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      writes: { type: "string", default: "300000" },
      lanes: { type: "string", default: "64" },
      early: { type: "string", default: "50" },
      kills: { type: "string", default: "2" },
    },
  });
  const r = await runSoak({
    writes: Number(values.writes),
    lanes: Number(values.lanes),
    early: Number(values.early),
    kills: Number(values.kills),
    log: (line) => console.error(line),
  });
  console.log(JSON.stringify({ ...r, mismatches: r.mismatches.slice(0, 20) }));
  const ok = r.published === r.writes && r.mismatches.length === 0 && r.retried > 0;
  console.error(ok ? "soak: 0 applied twice" : "soak: FAILED");
  Deno.exit(ok ? 0 : 1);
}
