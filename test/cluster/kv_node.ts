/**
 * A test program: one Raft node with a small key-value state machine, the real node driver, the
 * real storage and the real WebSocket transport, behind a tiny HTTP API. The multi-process
 * cluster test spawns three of these and kills them.
 *
 * Usage: deno run -A test/cluster/kv_node.ts <id> <port> <dataDir> <id=port,...> [snapshotEvery]
 *
 * HTTP: POST /put?key=K&value=V → 200 {index} | 421 {leaderId} | 503
 *       GET /get?key=K → linearizable read (ReadIndex) → 200 {value} | 503
 *       GET /dump → every key (local replica); GET /status → Raft status
 *
 * @module
 */

import { NodeDriver, type SnapshotView, type StateMachine } from "../../cluster/node/mod.ts";
import { openStorage } from "../../cluster/storage/mod.ts";
import { CLUSTER_LINK_PATH, Transport } from "../../cluster/transport/mod.ts";

const [id, portText, dataDir, peersText, snapText, clusterIdArg] = Deno.args;
// Unique per test cluster: parallel test files reuse freed ports (see test/e2e/nodes.ts).
const clusterId = clusterIdArg ?? "kv-test";
const port = Number(portText);
const peers = new Map<string, string>();
for (const part of peersText.split(",")) {
  const [pid, pport] = part.split("=");
  peers.set(pid, `http://127.0.0.1:${pport}`);
}

class KvMachine implements StateMachine {
  map = new Map<string, string>();
  apply(_index: number, data: Uint8Array): unknown {
    const { key, value } = JSON.parse(new TextDecoder().decode(data));
    this.map.set(key, value);
    return { size: this.map.size };
  }
  snapshot(): SnapshotView {
    const copy = [...this.map.entries()];
    return { serialize: () => new TextEncoder().encode(JSON.stringify(copy)) };
  }
  restore(data: Uint8Array): void {
    this.map = new Map(JSON.parse(new TextDecoder().decode(data)));
  }
}

const log = (level: string, event: string, details?: Record<string, unknown>) =>
  console.error(JSON.stringify({ level, node: id, event, ...details }));
const sm = new KvMachine();
const storage = await openStorage(dataDir, "fsync");
// The transport needs the driver and the driver the transport: tie the knot through a holder.
const holder: { driver?: NodeDriver } = {};
const transport = new Transport({
  selfId: id,
  clusterId,
  secret: "kv-test-secret",
  peers,
  onMessages: (msgs) => holder.driver?.receive(msgs),
  log: (event, details) => log("info", event, details),
});
const node = await NodeDriver.open({
  raft: { id, clusterId, electionTicks: 10, heartbeatTicks: 1, random: Math.random },
  bootstrapConf: { voters: [...peers.keys()], learners: [] },
  bootstrapUrls: peers,
  storage,
  sink: transport,
  stateMachine: sm,
  startTicker: (ms, fn) => {
    const t = setInterval(fn, ms);
    return () => clearInterval(t);
  },
  tickMs: 50,
  snapshotEveryEntries: Number(snapText ?? 10_000),
  log,
  onFatal: () => Deno.exit(70),
});
holder.driver = node;

Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
  const url = new URL(req.url);
  if (url.pathname === CLUSTER_LINK_PATH) return transport.handleUpgrade(req);
  if (url.pathname === "/put" && req.method === "POST") {
    const key = url.searchParams.get("key") ?? "";
    const value = url.searchParams.get("value") ?? "";
    const data = new TextEncoder().encode(JSON.stringify({ key, value }));
    const out = await node.propose(data, 3000);
    if (out.ok) return Response.json({ index: out.index });
    if (out.reason === "not_leader") return Response.json(out, { status: 421 });
    return Response.json(out, { status: 503 });
  }
  if (url.pathname === "/get") {
    const r = await node.readIndex(3000);
    if (!r.ok) return Response.json(r, { status: 503 });
    return Response.json({ value: sm.map.get(url.searchParams.get("key") ?? "") ?? null });
  }
  if (url.pathname === "/dump") return Response.json(Object.fromEntries(sm.map));
  if (url.pathname === "/status") {
    const s = node.status();
    return Response.json({ ...s, appliedIndex: node.appliedIndex });
  }
  return new Response("not found", { status: 404 });
});
console.log(`listening ${port}`);
