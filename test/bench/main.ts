/**
 * `deno task bench`: every benchmark, one after the other, each in its own process so one's
 * leftovers (processes, memory, JIT state) cannot colour the next. Pass `--quick` for one run
 * of each with smaller sizes (a smoke test of the benchmarks themselves).
 *
 * Compare with other systems (NATS JetStream, RabbitMQ quorum queues, etcd) only within one
 * sitting: run their benchmarks on the same machine right before or after.
 *
 * @module
 */

const quick = Deno.args.includes("--quick");
const here = new URL(".", import.meta.url).pathname;

const benches: { name: string; file: string; args: string[]; quickArgs: string[] }[] = [
  { name: "fsync and group commit", file: "fsync_bench.ts", args: [], quickArgs: [] },
  { name: "transport (one WebSocket link)", file: "transport_bench.ts", args: [], quickArgs: [] },
  { name: "dashboard list, 10,000 queues", file: "ui_bench.ts", args: [], quickArgs: [] },
  {
    name: "broker state machine (one core)",
    file: "broker_bench.ts",
    args: [],
    quickArgs: [],
  },
  {
    // Fails under 100,000 routed publishes/s (the routing target in the README).
    name: "routing by subject: 10,000 filtered subscriptions vs one unfiltered (one core)",
    file: "routing_bench.ts",
    args: ["--runs", "5"],
    quickArgs: ["--runs", "1", "--publishes", "20000"],
  },
  {
    name: "snapshots: capture, longest event-loop pause, save, restore",
    file: "snapshot_bench.ts",
    args: [],
    quickArgs: [],
  },
  {
    name: "Raft through 3 kv processes",
    file: "cluster_bench.ts",
    args: ["--runs", "5"],
    quickArgs: ["--runs", "1", "--proposals", "2000"],
  },
  {
    // Fails when over 0.5% of requests take over 10 ms (a periodic stall, see docs/transport.md).
    name: "sequential publish via the leader: tail and the period of slow requests",
    file: "seq_publish_bench.ts",
    args: ["--runs", "3"],
    quickArgs: ["--runs", "1", "--requests", "2000"],
  },
  {
    name: "HTTP publish, 64 clients, leader vs follower",
    file: "http_bench.ts",
    args: ["--runs", "3"],
    quickArgs: ["--runs", "1", "--messages", "3000"],
  },
  {
    // Workload B of our comparison with other brokers keeps 256 requests in flight on one pipelined connection; HTTP/1.1
    // does not pipeline, so 256 keep-alive connections stand in for it.
    name: "HTTP publish, 256 clients (the peers' B), leader vs follower",
    file: "http_bench.ts",
    args: ["--runs", "3", "--concurrency", "256", "--messages", "50000"],
    quickArgs: ["--runs", "1", "--concurrency", "256", "--messages", "5000"],
  },
  {
    name:
      "the stream vs HTTP: sequential publish, 256 in flight, batches of 100, consume + ack (leader)",
    file: "stream_bench.ts",
    args: ["--runs", "3"],
    quickArgs: [
      "--runs",
      "1",
      "--sequential",
      "300",
      "--inflight",
      "3000",
      "--batched",
      "5000",
      "--consume",
      "3000",
    ],
  },
  {
    name: "consume + ack on the stream: rate, CPU per message of the nodes and the client (leader)",
    file: "consume_bench.ts",
    args: ["--runs", "3", "--count", "50000"],
    quickArgs: ["--runs", "1", "--count", "3000"],
  },
  {
    name:
      "TLS vs plain (peer TLS, the TLS front): sequential and 16 in flight, leader and follower",
    file: "tls_bench.ts",
    args: ["--runs", "3"],
    quickArgs: ["--runs", "1", "--count", "300"],
  },
  {
    name: "edge gateway (Deno, workerd) vs the leader: publish p50, 64 clients (loopback)",
    file: "edge_bench.ts",
    args: ["--runs", "3"],
    quickArgs: ["--runs", "1", "--sequential", "300", "--messages", "2000"],
  },
  {
    name: "sessions: bytes per session and key, apply cost (state machine)",
    file: "session_bytes.ts",
    args: ["100000"],
    quickArgs: ["10000"],
  },
  {
    name: "sessions vs an Idempotency-Key per write, Client over 3 nodes, 64 lanes",
    file: "session_bench.ts",
    args: ["--runs", "3", "--messages", "10000"],
    quickArgs: ["--runs", "1", "--messages", "2000"],
  },
  {
    name: "broker over HTTP: latency, batches, consume, failover, start-up, memory",
    file: "cluster_http_bench.ts",
    args: ["--runs", "3"],
    quickArgs: ["--runs", "1", "--backlog", "20000"],
  },
  {
    name:
      "MQTT gateway (1 node and 3 nodes, fsync) vs Mosquitto (persistence on): QoS 1, 2, 0 fan-out",
    file: "mqtt_bench.ts",
    args: ["--runs", "3", "--messages", "20000"],
    quickArgs: ["--runs", "1", "--messages", "1000"],
  },
  {
    name: "start-up and snapshots with 1,000,000 messages: restarts, RSS, snapshot stall",
    file: "startup_bench.ts",
    args: ["--runs", "3"],
    quickArgs: ["--runs", "1", "--messages", "30000", "--tail", "21000"],
  },
];

let failed = 0;
for (const b of benches) {
  console.log(`\n## ${b.name} (${b.file})`);
  const isDenoBench = b.file === "broker_bench.ts" || b.file === "ui_bench.ts";
  const args = isDenoBench ? ["bench", "-A", `${here}${b.file}`] : [
    "run",
    "-A",
    // Heap figures need a collection before each reading.
    ...(b.file === "session_bytes.ts" ? ["--v8-flags=--expose-gc"] : []),
    `${here}${b.file}`,
    ...(quick ? b.quickArgs : b.args),
  ];
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) {
    console.log(`(${b.file} failed with exit code ${status.code})`);
    failed++;
  }
}
Deno.exit(failed === 0 ? 0 : 1);
