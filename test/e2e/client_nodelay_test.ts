/**
 * The client's stream socket in Deno has TCP_NODELAY (src/client/default_dial.ts): a real node, a
 * real client, and the option read back from the kernel with `getsockopt` on the socket the
 * client dialed (found in `/proc/self/fd` by its inode in `/proc/net/tcp`). Deno's `WebSocket`,
 * the default before, reads 0 there: the same check on a client given that dial shows it. A dial
 * given wins; over TLS with a private CA, `noDelayDial(caPem)` (what `mq --ca` uses) has it too.
 * A proxy in the environment is still used, as Deno's `WebSocket` uses it. The TCP_NODELAY checks
 * are Linux only (`/proc`, libc).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client, type StreamSocket } from "../../src/client/mod.ts";
import { noDelayDial } from "../../src/client/deno/mod.ts";
import { trustCa } from "../../src/cli/trust.ts";
import { Nodes } from "./nodes.ts";
import { TestPki } from "../testing/tls.ts";

const linux = Deno.build.os === "linux";
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

/** This process's TCP sockets connected to `port` on loopback: inode → fd. */
function socketsTo(port: number): Map<string, number> {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const lines = Deno.readTextFileSync(table).split("\n").slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      // f[2]: the remote address as hex `ip:port`; f[3] state 01 = established; f[9] the inode.
      if (f.length > 9 && parseInt(f[2].split(":")[1], 16) === port && f[3] === "01") {
        inodes.add(f[9]);
      }
    }
  }
  const out = new Map<string, number>();
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined && inodes.has(inode)) out.set(inode, Number(entry.name));
  }
  return out;
}

/** TCP_NODELAY of the socket at `fd`, read back with getsockopt(2). */
function noDelay(fd: number): number {
  const libc = Deno.dlopen("libc.so.6", {
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  });
  try {
    const value = new Int32Array(1);
    const length = new Uint32Array([4]);
    const rc = libc.symbols.getsockopt(
      fd,
      IPPROTO_TCP,
      TCP_NODELAY,
      new Uint8Array(value.buffer),
      new Uint8Array(length.buffer),
    );
    assert.equal(rc, 0, `getsockopt(${fd}) failed`);
    return value[0];
  } finally {
    libc.close();
  }
}

/**
 * Makes the client open its stream (its first calls: the queue made, one publish) and returns
 * TCP_NODELAY of the one socket to the node it opened (the sockets there before are not it).
 */
async function streamNoDelay(client: Client, url: string, queue: string): Promise<number> {
  const port = Number(new URL(url).port);
  const before = socketsTo(port);
  await client.createQueue(queue);
  await client.publish(queue, { body: "x" });
  assert.equal(client.transport.kind, "stream");
  const opened = [...socketsTo(port)].filter(([inode]) => !before.has(inode));
  assert.equal(opened.length, 1, `one new socket to the node, not ${opened.length}`);
  return noDelay(opened[0][1]);
}

const webSocket = (url: string) => new WebSocket(url) as unknown as StreamSocket;

Deno.test({
  name: "client in Deno: the stream has TCP_NODELAY by default; a dial given wins",
  ignore: !linux,
  async fn() {
    const nodes = await Nodes.start({ count: 1, storage: "memory" });
    const url = nodes.url("n1");
    const byDefault = new Client({ nodes: [url] });
    let dialed = 0;
    const given = new Client({ nodes: [url], dial: (u) => (dialed++, webSocket(u)) });
    try {
      assert.equal(await streamNoDelay(byDefault, url, "nodelay"), 1);
      // Deno's WebSocket (the default before) clears it: the check tells the two apart.
      assert.equal(await streamNoDelay(given, url, "nodelay"), 0);
      assert.equal(dialed, 1);
    } finally {
      await byDefault.close();
      await given.close();
      await nodes.stop();
    }
  },
});

Deno.test("client in Deno: a proxy set in the environment is still used (HTTP_PROXY)", async () => {
  // The proxy: it counts the connections it is asked for and closes them.
  const proxy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let asked = 0;
  const accepting = (async () => {
    for await (const conn of proxy) {
      asked++;
      conn.close();
    }
  })();
  const dir = await Deno.makeTempDir({ prefix: "quorumq-proxy-" });
  try {
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { Client } from "${new URL("../../src/client/mod.ts", import.meta.url)}";
const client = new Client({
  nodes: ["http://node.invalid:8080"],
  transport: "stream",
  timeoutMs: 5_000,
  retry: { attempts: 1 },
});
await client.createQueue("q").catch(() => {});
await client.close();
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${dir}/main.ts`],
      env: { HTTP_PROXY: `http://127.0.0.1:${(proxy.addr as Deno.NetAddr).port}` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    // The direct dial would not have asked it: node.invalid does not resolve.
    assert.ok(asked >= 1, "the stream was not dialed through the proxy");
  } finally {
    proxy.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

const pki = linux ? await TestPki.create() : undefined;

Deno.test({
  name: "client in Deno over TLS with a private CA: noDelayDial(caPem) and trustCa's dial",
  ignore: pki === undefined,
  async fn() {
    const ca = await pki!.ca("nodelay");
    const cert = await pki!.cert(ca, "n1");
    const nodes = await Nodes.start({
      count: 1,
      storage: "memory",
      tls: {
        caPem: ca.certPem,
        args: () => ["--tls-cert", cert.certFile, "--tls-key", cert.keyFile],
      },
    });
    const url = nodes.url("n1");
    const trust = trustCa(ca.certPem);
    const dialed = new Client({ nodes: [url], dial: noDelayDial(ca.certPem) });
    const trusted = new Client({ nodes: [url], fetch: trust.fetch, dial: trust.dial });
    try {
      assert.match(url, /^https:/);
      assert.equal(await streamNoDelay(dialed, url, "nodelay-tls"), 1);
      assert.equal(await streamNoDelay(trusted, url, "nodelay-tls"), 1);
      const got = await trusted.receive("nodelay-tls", { max: 10 });
      assert.deepEqual(got.map((m) => m.body), ["x", "x"]);
    } finally {
      await dialed.close();
      await trusted.close();
      trust.close();
      await nodes.stop();
      await pki!.remove();
    }
  },
});
