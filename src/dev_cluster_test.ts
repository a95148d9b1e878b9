import assert from "node:assert/strict";
import { DEV_SECRET, devNodes, mqHint, parseDevArgs } from "./dev_cluster.ts";
import { LOCAL_NODES } from "./cli/discover.ts";

Deno.test("parseDevArgs defaults to 3 nodes from 8081 in ./data with the dev secret", () => {
  const r = parseDevArgs([], {});
  assert.equal(r.kind, "options");
  if (r.kind !== "options") return;
  assert.deepEqual(r.options, {
    basePort: 8081,
    mqttBasePort: 1883,
    dataDir: "./data",
    count: 3,
    secret: DEV_SECRET,
    nodeArgs: [],
  });
});

Deno.test("parseDevArgs reads --base-port, --data, QUORUMQ_SECRET and node flags after --", () => {
  const r = parseDevArgs(
    ["--base-port", "9001", "--data", "/tmp/x/", "--", "--storage", "memory"],
    { QUORUMQ_SECRET: "s3" },
  );
  assert.equal(r.kind, "options");
  if (r.kind !== "options") return;
  assert.equal(r.options.basePort, 9001);
  assert.equal(r.options.dataDir, "/tmp/x");
  assert.equal(r.options.secret, "s3");
  assert.deepEqual(r.options.nodeArgs, ["--storage", "memory"]);
});

Deno.test("parseDevArgs refuses bad ports, counts and unknown flags", () => {
  assert.equal(parseDevArgs(["--base-port", "x"], {}).kind, "error");
  assert.equal(parseDevArgs(["--base-port", "65534"], {}).kind, "error");
  assert.equal(parseDevArgs(["--count", "0"], {}).kind, "error");
  assert.equal(parseDevArgs(["--mqtt-base-port", "65534"], {}).kind, "error");
  assert.equal(parseDevArgs(["--bogus"], {}).kind, "error");
  assert.equal(parseDevArgs(["--help"], {}).kind, "help");
});

Deno.test("devNodes gives each node its port, data dir, every peer and the shared secret", () => {
  const r = parseDevArgs(["--base-port", "7001", "--", "--log-level", "warn"], {});
  if (r.kind !== "options") throw new Error("options expected");
  const nodes = devNodes(r.options, "/m.ts");
  assert.deepEqual(nodes.map((n) => [n.id, n.url]), [
    ["n1", "http://127.0.0.1:7001"],
    ["n2", "http://127.0.0.1:7002"],
    ["n3", "http://127.0.0.1:7003"],
  ]);
  const args = nodes[1].args;
  const flag = (name: string) => args[args.indexOf(name) + 1];
  assert.equal(flag("--id"), "n2");
  assert.equal(flag("--listen"), "127.0.0.1:7002");
  assert.equal(flag("--mqtt-listen"), "127.0.0.1:1884");
  assert.equal(flag("--data"), "./data/n2");
  assert.equal(flag("--secret"), DEV_SECRET);
  assert.equal(
    flag("--peers"),
    "n1=http://127.0.0.1:7001,n2=http://127.0.0.1:7002,n3=http://127.0.0.1:7003",
  );
  assert.equal(flag("--log-level"), "warn");
  assert.ok(args.includes("/m.ts"));
  // A cluster refuses anonymous writes unless told: the dev cluster says so, unless auth is on.
  assert.ok(args.includes("--allow-anonymous"));
  const authed = parseDevArgs(["--", "--auth-file", "a.json"], {});
  if (authed.kind !== "options") throw new Error("options expected");
  assert.ok(!devNodes(authed.options, "/m.ts")[0].args.includes("--allow-anonymous"));
});

Deno.test("mqHint: the default ports are the ones mq finds; others get QUORUMQ_NODES", () => {
  const make = (argv: string[]) => {
    const r = parseDevArgs(argv, {});
    assert.ok(r.kind === "options");
    return devNodes(r.options, "main.ts");
  };
  const dflt = make([]);
  for (const n of dflt) assert.ok((LOCAL_NODES as readonly string[]).includes(n.url), n.url);
  assert.match(mqHint(dflt, 8081), /^mq: deno task mq queues \(finds these nodes by itself/);
  assert.equal(
    mqHint(make(["--base-port", "9001", "--count", "2"]), 9001),
    "mq: QUORUMQ_NODES=http://127.0.0.1:9001,http://127.0.0.1:9002 deno task mq queues",
  );
});
