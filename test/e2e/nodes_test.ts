/**
 * The harness itself: a port found free may be taken by another process before the node binds
 * it; the start then moves the cluster to other ports instead of failing.
 */
import assert from "node:assert/strict";
import { freePorts, Nodes } from "./nodes.ts";

Deno.test("Nodes.start moves to other ports when a node's port was taken before it bound it", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const takenPort = (taken.addr as Deno.NetAddr).port;
  const picked: number[][] = [];
  let nodes: Nodes | undefined;
  try {
    nodes = await Nodes.start({
      count: 1,
      storage: "memory",
      // The first pick hands out the port another process holds, as a lost race would.
      pickPorts: (n) => {
        const ports = picked.length === 0 ? [takenPort, ...freePorts(n - 1)] : freePorts(n);
        picked.push(ports);
        return ports;
      },
    });
    assert.equal(picked.length, 2);
    assert.notEqual(nodes.port("n1"), takenPort);
    const ready = await nodes.fetch(`${nodes.url("n1")}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
  } finally {
    await nodes?.stop();
    taken.close();
  }
});
