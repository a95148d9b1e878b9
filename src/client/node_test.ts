/**
 * Proves the client is runtime-neutral: `deno bundle` turns src/client/mod.ts into one ES module
 * (offline, no npm TypeScript), and Node 20 runs it against the real app served on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { TestBroker } from "../http/testing/test_broker.ts";

const CLIENT_DIR = new URL(".", import.meta.url);

const NODE_SCRIPT = `
import { Client, QueueNotFound, QuorumqError } from "./client.mjs";
const client = new Client({ nodes: ["http://127.0.0.1:1", process.argv[2]], retry: { baseDelayMs: 1 } });
const out = { runtime: "node " + process.version };
await client.createQueue("in");
await client.createQueue("out");
out.publish = await client.publish("in", { body: { n: 1 } });
await client.publishBatch("in", [{ body: { n: 2 } }, { body: { n: 3 } }]);
out.consumed = await client.consume("in", () => {}, { waitMs: 50, maxMessages: 2 });
out.exactlyOnce = await client.consumeExactlyOnce("in", (m) => [{ queue: "out", body: m.body }], { waitMs: 50, maxMessages: 1 });
out.outQueue = await client.getQueue("out");
try { await client.getQueue("missing"); } catch (e) {
  out.error = { queueNotFound: e instanceof QueueNotFound, base: e instanceof QuorumqError, type: e.type, status: e.status };
}
console.log(JSON.stringify(out));
`;

async function run(command: string, args: string[], cwd?: string) {
  const output = await new Deno.Command(command, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.equal(output.code, 0, `${command} ${args.join(" ")} failed: ${text(output.stderr)}`);
  return text(output.stdout);
}

Deno.test("the bundled client runs under Node 20 against a broker on 127.0.0.1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "quorumq_node_" });
  const broker = new TestBroker();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, broker.handle);
  try {
    await run(Deno.execPath(), [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--format",
      "esm",
      "-o",
      `${dir}/client.mjs`,
      new URL("mod.ts", CLIENT_DIR).pathname,
    ]);
    await Deno.writeTextFile(`${dir}/run.mjs`, NODE_SCRIPT);
    const stdout = await run("node", ["run.mjs", `http://127.0.0.1:${server.addr.port}`], dir);
    const out = JSON.parse(stdout);
    assert.match(out.runtime, /^node v2\d\./);
    assert.equal(out.publish.duplicate, false);
    assert.equal(typeof out.publish.id, "string");
    assert.deepEqual(out.consumed, { received: 2, acked: 2, nacked: 0, lost: 0, errors: 0 });
    assert.equal(out.exactlyOnce.acked, 1);
    assert.equal(out.outQueue.published, 1);
    assert.deepEqual(out.error, {
      queueNotFound: true,
      base: true,
      type: "queue_not_found",
      status: 404,
    });
    // The first node (port 1) refuses connections: the client moved on to the second.
    assert.ok(broker.seen.length >= 8);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("src/client modules use no Deno API (tests aside)", async () => {
  const offenders: string[] = [];
  for await (const entry of Deno.readDir(CLIENT_DIR)) {
    if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, CLIENT_DIR));
    if (/\bDeno\./.test(text)) offenders.push(entry.name);
  }
  assert.deepEqual(offenders, []);
});
