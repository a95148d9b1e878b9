/**
 * Real partitions against 3 real nodes, each in its own network namespace (netlab.ts): iptables
 * DROP rules leave the WebSocket links open and silent, unlike the transport's fault seam. The
 * majority must elect a new leader and commit, the cut-off leader must not acknowledge a write,
 * and after the rules go the old leader must catch up over the links that were stalled.
 * Skipped (ignored, with the reason printed) without root, `ip` and `iptables`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Nodes } from "../e2e/nodes.ts";
import { type Answer, assertStatus, call, eventually } from "../e2e/http.ts";
import { NetLab } from "./netlab.ts";

const availability = await NetLab.available();
if (!availability.ok) console.log(`real partition tests skipped: ${availability.reason}`);

/** The leader a node names and its indexes, read from that node alone. */
async function view(nodes: Nodes, id: string) {
  const v = await nodes.cluster(id, 1_000);
  return {
    leaderId: v.leaderId as string | null,
    term: v.term as number,
    appliedIndex: v.appliedIndex as number,
  };
}

/** Publishes through `via`; answers the answer or the error's text when the request failed. */
async function publish(base: string, id: string, timeoutMs: number): Promise<Answer | string> {
  try {
    return await call(base, "POST", "/v1/queues/p/messages", {
      body: { id, body: { id } },
      timeoutMs,
    });
  } catch (e) {
    return String((e as Error)?.message ?? e);
  }
}

async function partitionScenario(shape: "isolate" | "one-way"): Promise<void> {
  const lab = await NetLab.create(["n1", "n2", "n3"]);
  let nodes: Nodes | undefined;
  try {
    nodes = await Nodes.start({ count: 3, network: lab, keepLogs: true });
    const n = nodes;
    const old = await n.waitLeader();
    const rest = n.ids.filter((id) => id !== old);
    assertStatus(await call(n.url(old), "PUT", "/v1/queues/p", { body: {} }), 201);
    assertStatus(
      await call(n.url(old), "POST", "/v1/queues/p/messages", { body: { id: "a", body: 1 } }),
      201,
    );
    const before = await view(n, old);

    for (const peer of rest) {
      await lab.cut(old, peer);
      if (shape === "isolate") await lab.cut(peer, old);
    }
    const cutAt = Date.now();
    const fresh = await eventually(`a new leader among ${rest.join(",")}`, async () => {
      const views = await Promise.all(rest.map((id) => view(n, id)));
      const named = new Set(views.map((v) => v.leaderId));
      const [only] = [...named];
      return named.size === 1 && only && only !== old && views[0].term > before.term
        ? only
        : undefined;
    }, 20_000);
    const electedMs = Date.now() - cutAt;
    assertStatus(
      await call(n.url(fresh), "POST", "/v1/queues/p/messages", { body: { id: "b", body: 2 } }),
      201,
    );
    // The old leader cannot reach a majority: it must not acknowledge a write.
    const stranded = await publish(n.url(old), "stranded", 6_000);
    assert.ok(
      typeof stranded === "string" || stranded.status >= 500,
      `the cut-off node acknowledged a write: ${
        typeof stranded === "string" ? stranded : stranded.text
      }`,
    );

    await lab.heal();
    const healedAt = Date.now();
    const target = (await view(n, fresh)).appliedIndex;
    await eventually(`${old} to follow and apply index ${target}`, async () => {
      const views = await Promise.all(n.ids.map((id) => view(n, id)));
      const leaders = new Set(views.map((v) => v.leaderId));
      const caughtUp = views.every((v) => v.appliedIndex >= target);
      return leaders.size === 1 && !leaders.has(null) && caughtUp ? true : undefined;
    }, 20_000);
    const rejoinMs = Date.now() - healedAt;
    const q = await call(n.url(old), "GET", "/v1/queues/p?consistency=stale");
    assert.ok(q.body.published >= 2, `${old} applied both acknowledged writes: ${q.text}`);
    console.log(
      `${shape}: ${old} cut off; new leader ${fresh} in ${electedMs} ms; ` +
        `${old} caught up ${rejoinMs} ms after the heal`,
    );
  } finally {
    await nodes?.stop();
    await lab.destroy();
  }
}

Deno.test({
  name: "an iptables-isolated leader is replaced, acknowledges nothing, and catches up after heal",
  ignore: !availability.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => partitionScenario("isolate"),
});

Deno.test({
  name: "a leader whose outbound packets are dropped (one-way) is replaced and catches up",
  ignore: !availability.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => partitionScenario("one-way"),
});
