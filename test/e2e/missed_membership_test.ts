/**
 * A member that missed a membership change (docs/reliability.md item 11), with real processes: a member that was down while a node was added, and that
 * node then became the leader, must hear the new leader when it comes back. Links used to be
 * admitted by the receiver's applied membership: the restarted member refused the new leader's
 * link (`unknown_node`) and had no URL to answer it, so it stayed stranded for good.
 *
 * @module
 */

import assert from "node:assert/strict";
import { call } from "./http.ts";
import { Nodes, sleep } from "./nodes.ts";

/** Retries `f` every 200 ms until it returns a value, for at most `ms`. */
async function within<T>(ms: number, what: string, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = String(e);
    }
    await sleep(200);
  }
  throw new Error(`${what}: not within ${ms} ms ${last}`);
}

Deno.test({
  name:
    "a member restarted after missing the change that added the current leader catches up (docs/reliability.md item 11)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nodes = await Nodes.start({ count: 3, testFaults: true });
    try {
      const leader = await nodes.waitLeader();
      const f = nodes.ids.find((id) => id !== leader)!;
      await nodes.kill(f);
      // The old members send f nothing from now on: f is down longer than their queues for it
      // last, so when it returns it can learn of n4 only from n4 itself.
      for (const id of nodes.ids.filter((id) => id !== f)) {
        const cut = await call(nodes.url(id), "PUT", "/v1/admin/faults", {
          body: { peer: f, direction: "out", cut: true },
        });
        assert.ok(cut.status < 300, cut.text);
      }
      const before = await call(nodes.url(leader), "PUT", "/v1/queues/before", { body: {} });
      assert.ok(before.status < 300, before.text);

      nodes.addId("n4");
      nodes.spawn("n4");
      const added = await call(nodes.url(leader), "POST", "/v1/cluster/members", {
        body: { id: "n4", url: nodes.url("n4") },
        timeoutMs: 30_000,
      });
      assert.equal(added.status, 200, added.text);
      await within(20_000, "n4 leads", async () => {
        const current = await nodes.waitLeader();
        if (current === "n4") return true;
        await call(nodes.url(current), "POST", "/v1/cluster/leadership-transfer", {
          body: { to: "n4" },
        });
        await sleep(500);
        return (await nodes.waitLeader()) === "n4" ? true : undefined;
      });
      const after = await call(nodes.url("n4"), "PUT", "/v1/queues/after", { body: {} });
      assert.ok(after.status < 300, after.text);
      const published = await call(nodes.url("n4"), "POST", "/v1/queues/after/messages", {
        body: { id: "m1", body: "one" },
      });
      assert.ok(published.status < 300, published.text);

      // f comes back with its old membership (n1..n3): n4, which it never heard of, leads.
      nodes.spawn(f);
      let answer = "";
      const seen = await within(
        30_000,
        `${f} serves a linearizable read of the new state`,
        () =>
          call(nodes.url(f), "GET", "/v1/queues/after").then((r) => {
            answer = `${r.status} ${r.text}`;
            return r.status === 200 ? r.body : undefined;
          }),
      ).catch((e) => {
        const events = nodes.logs(f).split("\n").filter((l) => /refused|leader_changed/.test(l));
        throw new Error(`${e.message}; last answer ${answer}; ${f}: ${events.slice(-5).join(" ")}`);
      });
      assert.ok(JSON.stringify(seen).includes("after"), JSON.stringify(seen));
      const viaF = await call(nodes.url(f), "POST", "/v1/queues/after/messages", {
        body: { id: "m2", body: "two" },
        timeoutMs: 15_000,
      });
      assert.ok(viaF.status < 300, viaF.text);
      const view = await nodes.cluster(f);
      assert.equal(view.leaderId, "n4");
    } finally {
      await nodes.stop();
    }
  },
});
