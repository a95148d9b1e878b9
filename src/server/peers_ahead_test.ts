/**
 * A restarted node dials the members its log names past what it has applied (chaos FINDINGS
 * F10): here a membership change that can never be applied (no quorum), and the node still dials
 * the member it adds, at the URL the log gives.
 */
import assert from "node:assert/strict";
import { encodeConfChange, EntryKind } from "../../cluster/raft/mod.ts";
import { openStorage } from "../../cluster/storage/mod.ts";
import { CLUSTER_LINK_PATH } from "../../cluster/transport/mod.ts";
import { parseConfig } from "../config.ts";
import { silentLogger } from "../log.ts";
import { startNode } from "./start.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** n1 of {n1, n2}, n2 never up: no leader, so nothing past the bootstrap is ever committed. */
function startN1(dir: string, port: number) {
  const parsed = parseConfig(
    [
      "--id",
      "n1",
      "--listen",
      `127.0.0.1:${port}`,
      "--data",
      dir,
      "--allow-anonymous",
      "--peers",
      `n1=http://127.0.0.1:${port},n2=http://127.0.0.1:${freePort()}`,
    ],
    { QUORUMQ_SECRET: "a-test-secret-of-enough-length-0123456789" },
    (path) => Deno.readTextFileSync(path),
  );
  if (parsed.kind !== "config") throw new Error(JSON.stringify(parsed));
  return startNode(parsed.config, silentLogger);
}

Deno.test("a restarted node dials a member that its log adds past the entries it applied", async () => {
  const dir = await Deno.makeTempDir();
  let dialed = 0;
  const x = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname === CLUSTER_LINK_PATH) dialed++;
    return new Response("not a node", { status: 503 });
  });
  try {
    const port = freePort();
    await (await startN1(dir, port)).shutdown();
    // What a follower holds after a leader's append that it never learned was committed.
    const storage = await openStorage(dir, "fsync");
    const last = storage.log.lastIndex();
    await storage.log.append([{
      term: storage.log.term(last) ?? 1,
      index: last + 1,
      kind: EntryKind.ConfChange,
      data: encodeConfChange({
        op: "add_learner",
        nodeId: "x",
        context: `http://127.0.0.1:${x.addr.port}`,
      }),
    }]);
    await storage.close();
    const node = await startN1(dir, port);
    try {
      for (let i = 0; i < 100 && dialed === 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(dialed > 0, "the member named in the log was never dialed");
      assert.equal(node.driver.appliedIndex < last + 1, true);
    } finally {
      await node.shutdown();
    }
  } finally {
    await x.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
