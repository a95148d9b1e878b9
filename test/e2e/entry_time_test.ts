/**
 * Entry time (docs/reliability.md items 6 and 11), with real processes: the leader's wall clock jumps an hour forward while it
 * leads (libfaketime moves the wall clock of a running process; its monotonic clock is left
 * alone, as an NTP step or `date -s` leaves it). No lease may end early and no id be forgotten,
 * also for writes through a follower whose clock jumped too; leases must still end on time, also
 * after the leadership moves to a node whose wall clock is an hour behind the jumped one.
 *
 * Needs libfaketime (Debian: `apt-get install faketime`; `.ci/run` installs it as root). Without
 * it the test is skipped and says why.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Nodes } from "./nodes.ts";
import { assertStatus, call, eventually } from "./http.ts";
import { moveLeadership } from "./leadership.ts";

const FAKETIME_LIB = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
  "/usr/lib/faketime/libfaketimeMT.so.1",
].find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});

if (FAKETIME_LIB === undefined) {
  console.log(
    "e2e entry time: skipped: libfaketime is not installed (Debian: apt-get install faketime)",
  );
}

const HOUR_S = 3600;

Deno.test({
  name: "e2e entry time: the leader's wall clock jumps +1 h: no lease ends early, no id forgotten",
  ignore: FAKETIME_LIB === undefined,
  async fn() {
    const clockDir = await Deno.makeTempDir({ prefix: "quorumq-faketime-" });
    const clockFile = (id: string) => `${clockDir}/${id}`;
    for (const id of ["n1", "n2", "n3"]) await Deno.writeTextFile(clockFile(id), "+0\n");
    const nodes = await Nodes.start({
      count: 3,
      storage: "memory",
      env: (id) => ({
        LD_PRELOAD: FAKETIME_LIB!,
        FAKETIME_TIMESTAMP_FILE: clockFile(id),
        // Read the offset at every call, so writing the file moves a running process's clock.
        FAKETIME_NO_CACHE: "1",
        FAKETIME_DONT_FAKE_MONOTONIC: "1",
      }),
    });
    try {
      const leader = await nodes.waitLeader();
      const [follower, other] = nodes.ids.filter((id) => id !== leader);
      const url = (id: string) => nodes.url(id);
      const put = (q: string, options: unknown) =>
        call(url(leader), "PUT", `/v1/queues/${q}`, { body: options });
      assertStatus(await put("long", { leaseMs: 600_000, dedupWindowMs: 1_200_000 }), 201);
      assertStatus(await put("short", { leaseMs: 1_000 }), 201);
      const publish = (via: string, q: string, id: string) =>
        call(url(via), "POST", `/v1/queues/${q}/messages`, { body: { id, body: id } });
      // deno-lint-ignore no-explicit-any
      const receive = async (via: string, q: string): Promise<any[]> => {
        const got = await call(url(via), "POST", `/v1/queues/${q}/receive`, { body: { max: 1 } });
        assertStatus(got, 200);
        return got.body.messages;
      };
      assertStatus(await publish(leader, "long", "a"), 201);
      const [a] = await receive(leader, "long");
      assert.equal(a.id, "a");

      await jumpWallClock(url(leader), clockFile(leader), HOUR_S);
      // Any entry the leader proposes now carries its entry time: a wall-clock stamp would be an
      // hour ahead, past a's 10 min lease and its 20 min dedup window.
      assertStatus(await publish(leader, "short", "s1"), 201);
      const status = await call(url(leader), "GET", "/v1/queues/long/messages/a");
      assertStatus(status, 200);
      assert.equal(status.body.state, "leased", "the lease of a ended early");
      // A follower's clock never reaches an entry: it forwards the request and the leader stamps.
      await jumpWallClock(url(follower), clockFile(follower), HOUR_S);
      const again = await publish(follower, "long", "a");
      assertStatus(again, 200);
      assert.equal(again.body.duplicate, true, "the id a was forgotten");
      const ack = await call(url(leader), "POST", "/v1/queues/long/ack", {
        body: { receipts: [a.receipt] },
      });
      assertStatus(ack, 200);
      assert.equal(ack.body.results[0].status, "acked", "the lease of a ended early");

      // Entry time still runs (with the leader's monotonic clock): a 1 s lease ends.
      await leaseEndsAndComesBack(leader, "s1", receive);

      // The jumped leader hands over to a node whose wall clock is an hour behind it.
      await moveLeadership(url(leader), leader, other);
      await eventually(
        "the transfer",
        async () => (await nodes.waitLeader(5_000)) === other || undefined,
      );
      const dup = await publish(other, "long", "a");
      assertStatus(dup, 200);
      assert.equal(dup.body.duplicate, true, "the id a was forgotten after the transfer");
      assertStatus(await publish(other, "short", "s2"), 201);
      await leaseEndsAndComesBack(other, "s2", receive);
    } finally {
      await nodes.stop();
      await Deno.remove(clockDir, { recursive: true }).catch(() => {});
    }
  },
});

/** Moves a node's wall clock by `seconds` and waits until its HTTP `Date` header shows it. */
async function jumpWallClock(url: string, file: string, seconds: number): Promise<void> {
  await Deno.writeTextFile(file, `+${seconds}\n`);
  await eventually(`the wall clock of ${url} to jump`, async () => {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    const shown = Date.parse(res.headers.get("date") ?? "");
    return shown > Date.now() + (seconds - 60) * 1000 || undefined;
  });
}

/** Receives `id` from `short` through `via`, then waits (bounded) for its second delivery. */
async function leaseEndsAndComesBack(
  via: string,
  id: string,
  // deno-lint-ignore no-explicit-any
  receive: (via: string, q: string) => Promise<any[]>,
): Promise<void> {
  const [first] = await receive(via, "short");
  assert.deepEqual([first?.id, first?.attempt], [id, 1]);
  await eventually(
    `${id}'s 1 s lease to end`,
    async () => {
      const [m] = await receive(via, "short");
      if (m === undefined) return undefined;
      assert.deepEqual([m.id, m.attempt], [id, 2]);
      return true;
    },
    20_000,
    200,
  );
}
