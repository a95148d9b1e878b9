/**
 * A node stopped in process (`RunningNode.shutdown`, what an embedding process or a test calls)
 * closes every WebSocket a client opened on it, each with 1001 (going away), so nothing is left
 * for the process exit to cut: the forwarding channel, the client stream and MQTT over
 * WebSocket. The test's sanitizers also fail on any socket or op left behind.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../config.ts";
import { silentLogger } from "../log.ts";
import { startNode } from "./start.ts";

/** A client WebSocket, its open and its close (code and reason). */
function connect(url: string, protocol?: string) {
  const socket = new WebSocket(url, protocol);
  socket.binaryType = "arraybuffer";
  const opened = new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error(`${url} did not open`));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.onclose = (e) => resolve({ code: e.code, reason: e.reason });
  });
  return { socket, opened, closed };
}

/** Resolves with what `p` gives, or `undefined` after `ms` (then the socket was left open). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    p,
    new Promise<undefined>((res) => timer = setTimeout(() => res(undefined), ms)),
  ]);
  clearTimeout(timer);
  return r;
}

/** A node on a temporary data directory, with MQTT on; `stop` also removes the directory. */
async function startTestNode() {
  const dir = await Deno.makeTempDir();
  const parsed = parseConfig(
    ["--id", "n1", "--listen", "127.0.0.1:0", "--data", dir, "--allow-anonymous"],
    { QUORUMQ_MQTT_LISTEN: "127.0.0.1:0" },
    (path) => Deno.readTextFileSync(path),
  );
  if (parsed.kind !== "config") throw new Error(JSON.stringify(parsed));
  const node = await startNode(parsed.config, silentLogger);
  return {
    node,
    base: node.url.replace(/^http/, "ws"),
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

/**
 * A stream opened by hand over TCP that never answers the node's close frame: the node's stop
 * waits for it (up to the stream's goodbye bound) before the listener closes.
 */
async function silentStreamClient(port: number): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = `GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\n\r\n";
  await conn.write(new TextEncoder().encode(request));
  const head = new Uint8Array(1024);
  const n = await conn.read(head);
  assert.match(new TextDecoder().decode(head.subarray(0, n ?? 0)), /^HTTP\/1\.1 101/);
  return conn;
}

Deno.test("a node's stop closes the forwarding channel, the stream and MQTT over WebSocket with 1001", async () => {
  const { node, base, remove } = await startTestNode();
  const clients = {
    forward: connect(`${base}/cluster/v1/forward`),
    stream: connect(`${base}/v1/stream`),
    mqtt: connect(`${base}/mqtt`, "mqtt"),
  };
  await Promise.all(Object.values(clients).map((c) => c.opened));
  await node.shutdown();
  for (const [path, client] of Object.entries(clients)) {
    const closed = await within(client.closed, 10_000);
    if (closed === undefined) client.socket.close();
    assert.equal(closed?.code, 1001, `${path}: ${JSON.stringify(closed)}`);
  }
  await remove();
});

Deno.test("MQTT over WebSocket asked for while the node stops is turned away, not left open", async () => {
  const { node, base, remove } = await startTestNode();
  const silent = await silentStreamClient(Number(new URL(node.url).port));
  const stopping = node.shutdown();
  // The MQTT gateway closed at the start of the stop; the listener closes after the stream.
  const late = connect(`${base}/mqtt`, "mqtt");
  const outcome = await Promise.race([
    late.opened.then(() => "opened", () => "refused"),
    late.closed.then(() => "refused"),
  ]);
  await stopping;
  await within(late.closed, 10_000);
  silent.close();
  assert.equal(outcome, "refused");
  await remove();
});
