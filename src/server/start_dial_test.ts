/**
 * A node dials its peers once it listens, not during the rest of its start-up: a link dialed
 * earlier is of no use (the peer answers over its own link, to our listener) and went silent
 * while start-up held the event loop (the peer gave it up after 2 s of missed pings on a loaded
 * machine, and it was redialed at once).
 */
import assert from "node:assert/strict";
import { parseConfig } from "../config.ts";
import { silentLogger } from "../log.ts";
import { startNode } from "./start.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("a starting node dials its peers only once its own listener accepts connections", async () => {
  const nodePort = freePort();
  // The peer: at each dial, can it reach the dialing node's listener?
  const reachable: boolean[] = [];
  let dialed!: () => void;
  const firstDial = new Promise<void>((resolve) => dialed = resolve);
  const peer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: nodePort }).catch(() => null);
    conn?.close();
    reachable.push(conn !== null);
    dialed();
    return new Response("not now", { status: 503 });
  });
  const dir = await Deno.makeTempDir();
  const parsed = parseConfig(
    [
      "--id",
      "n1",
      "--listen",
      `127.0.0.1:${nodePort}`,
      "--data",
      dir,
      "--allow-anonymous",
      "--peers",
      `n1=http://127.0.0.1:${nodePort},n2=http://127.0.0.1:${peer.addr.port}`,
      "--secret",
      "a-test-cluster-secret",
    ],
    {},
    (path) => Deno.readTextFileSync(path),
  );
  if (parsed.kind !== "config") throw new Error(JSON.stringify(parsed));
  const node = await startNode(parsed.config, silentLogger);
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([firstDial, new Promise((r) => timer = setTimeout(r, 10_000))]);
  clearTimeout(timer);
  await node.shutdown();
  await peer.shutdown();
  await Deno.remove(dir, { recursive: true });
  assert.ok(reachable.length > 0, "the node never dialed its peer");
  assert.equal(reachable[0], true, "the first dial came before the node listened");
});
