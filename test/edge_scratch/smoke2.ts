import { Nodes } from "../e2e/nodes.ts";
import { call } from "../e2e/http.ts";
import { startEdge } from "../../src/edge_targets/run.ts";
const runtime = (Deno.args[0] ?? "workerd") as "workerd" | "deno";
const nodes = await Nodes.start({ count: 3, storage: "memory" });
const leader = await nodes.waitLeader();
const t0 = performance.now();
const gw = await startEdge({
  runtime,
  upstream: nodes.ids.map((i) => nodes.url(i)),
  listen: "127.0.0.1:0",
});
console.log("started in", performance.now() - t0);
try {
  console.log("leader", leader);
  for (
    const [m, p, b] of [
      ["PUT", "/v1/queues/a", {}],
      ["POST", "/v1/queues/a/messages", { body: 1 }],
      ["GET", "/v1/queues/a", undefined],
      ["PATCH", "/v1/queues/a", {}],
      ["GET", "/readyz", undefined],
      ["GET", "/v2/x", undefined],
      ["POST", "/v1/queues/a/receive", { waitMs: 100 }],
    ] as const
  ) {
    const a = await call(gw.url, m, p, b === undefined ? {} : { body: b });
    console.log(m, p, a.status, a.headers.get("content-type"), a.text.slice(0, 150));
  }
  await new Promise((r) => setTimeout(r, 1500));
  console.log((await call(gw.url, "GET", "/healthz")).text);
} finally {
  await gw.stop();
  await nodes.stop();
}
