import assert from "node:assert/strict";
import { silentLogger } from "../log.ts";
import { createApp } from "./app.ts";
import { type ForwardedRequest, requestLeaderFetch } from "./forward.ts";
import { answerTextOf, inProcessRequest, type Pipelined } from "./in_process.ts";
import { LocalNode } from "./testing/local_node.ts";

/** A follower of a reachable leader (its forwards are recorded) and its app. */
function setUp(mode: "leader" | "follower") {
  const node = new LocalNode({
    nodeId: "n2",
    mode: mode === "leader"
      ? { kind: "leader" }
      : { kind: "follower", leaderId: "n1", leaderUrl: "http://leader.test" },
  });
  const forwarded: ForwardedRequest[] = [];
  const app = createApp({
    node,
    log: silentLogger,
    leaderFetch: (r) => {
      forwarded.push(r);
      return requestLeaderFetch(() => new Response(null, { status: 201 }))(r);
    },
  });
  const post = async (pipelined: Pipelined) => {
    const headers = new Headers({ "content-type": "application/json" });
    const text = JSON.stringify({ messages: [{ body: 1 }] });
    const req = inProcessRequest(
      "http://n2.test/v1/topics/t/messages",
      { method: "POST", headers },
      text,
      undefined,
      pipelined,
    );
    const res = await app.fetch(req);
    return { status: res.status, text: await answerTextOf(res) };
  };
  return { node, forwarded, post, app };
}

Deno.test("a pipelined write is told when it is proposed on the leader", async () => {
  const { node, post, app } = setUp("leader");
  await app.fetch(new Request("http://n2.test/v1/topics/t", { method: "PUT" }));
  let proposed = 0;
  const a = await post({ proposed: () => proposed++ });
  assert.equal(a.status, 201);
  assert.equal(proposed, 1);
  const b = await post({ proposed: () => proposed++, localOnly: true });
  assert.equal(b.status, 201, "local only is proposed while leading");
  assert.equal(proposed, 2);
  assert.equal(node.proposals.length, 3);
});

Deno.test("a local-only write on a follower is refused at once: neither proposed nor forwarded", async () => {
  const { node, forwarded, post } = setUp("follower");
  let proposed = 0;
  const a = await post({ proposed: () => proposed++, localOnly: true });
  assert.equal(a.status, 421);
  assert.equal(JSON.parse(a.text).type, "not_leader");
  assert.match(JSON.parse(a.text).detail, /behind another one still in flight/);
  assert.equal(forwarded.length, 0);
  assert.equal(node.proposals.length, 0);
  assert.equal(proposed, 0);
  // Not local only: forwarded as usual, and not told "proposed" (this node does not lead).
  const b = await post({ proposed: () => proposed++ });
  assert.equal(b.status, 201);
  assert.equal(forwarded.length, 1);
  assert.equal(proposed, 0);
});
