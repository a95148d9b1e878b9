import assert from "node:assert/strict";
import { Client } from "./client.ts";
import { TestBroker } from "../http/testing/test_broker.ts";
import { SessionExpired, UnknownOutcome } from "./errors.ts";
import fc from "fast-check";
import { PARK_WRITES, PARKED_MAX, SessionNumbers, type Ticket } from "./session.ts";

const noSleep = () => Promise.resolve();

Deno.test("Client renews an expired session between calls without the caller seeing it", async () => {
  const broker = new TestBroker();
  const client = new Client({
    nodes: ["http://a:1"],
    fetch: broker.fetch,
    sleep: noSleep,
    sessionTimeoutMs: 1000,
  });
  await client.createQueue("q");
  const first = client.transport.sessionId;
  broker.advance(1000);
  await client.publish("q", { body: 1 });
  const second = client.transport.sessionId;
  assert.ok(first !== undefined && second !== undefined && second !== first);
  assert.equal((await client.getQueue("q")).published, 1);
  const refused = broker.seen.filter((s) => s.session?.startsWith(`${first}/`));
  assert.equal(refused.length, 2, "createQueue, then the publish refused as session_expired");
});

Deno.test("a session that expires in the middle of a retry gives UnknownOutcome, not a new session", async () => {
  const broker = new TestBroker();
  let lost = 0;
  // The first publish applies but its answer is lost; before the retry the session expires.
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const response = await broker.fetch(input, init);
    if (String(input).endsWith("/messages") && lost++ === 0) {
      broker.advance(1000);
      throw new TypeError("connection reset");
    }
    return response;
  };
  const client = new Client({
    nodes: ["http://a:1"],
    fetch,
    sleep: noSleep,
    sessionTimeoutMs: 1000,
  });
  await client.createQueue("q");
  const error = await client.publish("q", { body: 1 }).catch((e) => e);
  assert.ok(error instanceof UnknownOutcome, String(error));
  assert.ok(error.cause instanceof SessionExpired);
  assert.equal((await client.getQueue("q")).published, 1, "applied once, never again");
});

Deno.test("a call resumed after UnknownOutcome gets the stored answer of its session seq", async () => {
  const broker = new TestBroker();
  let fail = true;
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const response = await broker.fetch(input, init);
    if (fail && String(input).endsWith("/messages")) throw new TypeError("connection reset");
    return response;
  };
  const client = new Client({
    nodes: ["http://a:1"],
    fetch,
    sleep: noSleep,
    retry: { attempts: 2 },
  });
  await client.createQueue("q");
  const error = await client.publish("q", { body: 1 }).catch((e) => e);
  assert.ok(error instanceof UnknownOutcome);
  fail = false;
  await client.publish("q", { body: 2 }); // later calls do not drop the parked answer
  const { session, seq } = error.problem as unknown as { session: number; seq: number };
  const resumed = await client.transport.request({
    method: "POST",
    path: "/v1/queues/q/messages",
    body: { body: 1, id: "x" },
    mutating: true,
    resume: { session, seq },
  });
  assert.equal(resumed.replayed, true);
  assert.equal((await client.getQueue("q")).published, 2);
});

Deno.test("Client.close() ends its session on the broker; the next write opens another", async () => {
  const broker = new TestBroker();
  const client = new Client({ nodes: ["http://a:1"], fetch: broker.fetch, sleep: noSleep });
  await client.createQueue("q");
  const first = client.transport.sessionId!;
  await client.close();
  assert.equal(client.transport.sessionId, undefined);
  assert.equal(broker.seen.at(-1)!.method, "DELETE");
  assert.equal(broker.seen.at(-1)!.path, `/v1/sessions/${first}`);
  await client.publish("q", { body: 1 });
  assert.ok(client.transport.sessionId !== undefined && client.transport.sessionId !== first);
});

Deno.test("an unknown outcome stays resumable for a while, then stops holding answers back", async () => {
  const broker = new TestBroker();
  let fail = true;
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const response = await broker.fetch(input, init);
    if (fail && String(input).endsWith("/messages")) throw new TypeError("connection reset");
    return response;
  };
  const client = new Client({
    nodes: ["http://a:1"],
    fetch,
    sleep: noSleep,
    retry: { attempts: 1 },
  });
  await client.createQueue("q");
  await assert.rejects(client.publish("q", { body: 0 }), UnknownOutcome);
  fail = false;
  const lowestSent = () => Number(broker.seen.at(-1)!.session!.split("/")[2]);
  await client.publish("q", { body: 1 });
  assert.equal(lowestSent(), 2, "the parked seq 2 holds lowest back (resumable)");
  for (let i = 0; i < PARK_WRITES; i++) await client.publish("q", { body: i });
  assert.ok(lowestSent() > 2, `lowest ${lowestSent()}: the parked seq still pins the session`);
});

Deno.test("a long poll in flight goes in its own session and holds back no other write's answers", async () => {
  const broker = new TestBroker();
  const client = new Client({ nodes: ["http://a:1"], fetch: broker.fetch, sleep: noSleep });
  await client.createQueue("q");
  const polling = client.receive("q", { waitMs: 5000 });
  await new Promise((resolve) => setTimeout(resolve, 10));
  await client.publish("q", { body: 1 });
  await client.publish("q", { body: 2 });
  const [got] = await polling;
  assert.equal(got.body, 1);
  const place = (path: string) =>
    broker.seen.filter((s) => s.path === path && s.session !== null).map((s) =>
      s.session!.split("/").map(Number)
    );
  const [[pollSession]] = place("/v1/queues/q/receive");
  const publishes = place("/v1/queues/q/messages");
  assert.ok(publishes.every(([id]) => id !== pollSession), "the poll has a session of its own");
  const [, seq, lowest] = publishes.at(-1)!;
  assert.equal(lowest, seq, "no call in flight holds the publisher's lowest back");
});

Deno.test("SessionNumbers.lowest() is the lowest seq still outstanding (against a full scan)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.constantFrom("begin", "finish", "park", "resume"), { maxLength: 200 }),
      fc.array(fc.nat(), { minLength: 200, maxLength: 200 }),
      async (ops, picks) => {
        const numbers = new SessionNumbers(() => Promise.resolve(7));
        const tickets: Ticket[] = [await numbers.begin()];
        const model = new Set<number>([tickets[0].seq]);
        const parked: number[] = [];
        for (const [k, op] of ops.entries()) {
          const t = tickets[picks[k] % tickets.length];
          if (op === "begin") {
            const fresh = await numbers.begin();
            tickets.push(fresh);
            model.add(fresh.seq);
            // begin releases the parked seqs PARK_WRITES behind
            while (parked.length > 0 && parked[0] <= fresh.seq - PARK_WRITES) {
              model.delete(parked.shift()!);
            }
          } else if (op === "finish") {
            numbers.finish(t);
            model.delete(t.seq);
          } else if (op === "park") {
            if (!model.has(t.seq) || parked.includes(t.seq)) continue;
            numbers.park(t);
            parked.push(t.seq);
            while (parked.length > PARKED_MAX) model.delete(parked.shift()!);
          }
          const probe = op === "resume" ? numbers.resume(7, t.seq) : t;
          const next = tickets.at(-1)!.seq + 1;
          const expected = Math.min(next, probe.seq, ...model);
          assert.equal(numbers.lowest(probe), expected, `after ${op} #${k}`);
        }
      },
    ),
    { numRuns: 200 },
  );
});
