/**
 * Certificates reload on SIGHUP without dropping the cluster: three real nodes on TLS (peer TLS,
 * the listener serving the peer certificate), a writer publishing all along; each node in turn
 * gets a new certificate and key in its files and a SIGHUP. Writes commit before, during and after;
 * each listener then serves the new certificate; no link between nodes drops (the ones the node
 * dialed, and the ones dialed to it); a node restarted afterwards joins with its new certificate;
 * every acknowledged write is there exactly once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { trustCa } from "../../src/cli/trust.ts";
import { Nodes, sleep } from "./nodes.ts";
import { pem, servedCertificate, type TestCa, type TestCert, TestPki } from "../testing/tls.ts";

const pki = await TestPki.create();

Deno.test({
  name: "TLS reload: SIGHUP with new certificates keeps a 3-node cluster committing",
  ignore: pki === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ca = await pki!.ca("reload");
    const certs = new Map<string, TestCert>();
    for (const id of ["n1", "n2", "n3"]) certs.set(id, await pki!.cert(ca, id));
    // fsync: n3 is restarted at the end, and a memory node that restarts has lost its log.
    const nodes = await Nodes.start({
      count: 3,
      tls: {
        caPem: ca.certPem,
        args: (id) => [
          ...["--peer-ca", ca.certFile],
          ...["--peer-cert", certs.get(id)!.certFile, "--peer-key", certs.get(id)!.keyFile],
        ],
      },
    });
    const trust = trustCa(ca.certPem);
    const client = new Client({ nodes: nodes.urls(), fetch: trust.fetch, dial: trust.dial });
    const writer = new Writer(client);
    try {
      await client.createQueue("q");
      writer.start();
      await writer.until(20, "before the reloads");
      for (const id of nodes.ids) await reloadOne(nodes, ca, certs, id, writer);
      await writer.until(writer.acked + 20, "after every reload");
      await refusesBadReload(nodes, certs.get("n1")!, ca, writer);

      // A node restarted now dials the reloaded listeners and proves its renewed certificate.
      await nodes.restart("n3");
      await nodes.waitLeader();
      const put = await nodes.fetch(`${nodes.url("n3")}/v1/queues/after`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.ok(put.ok, `a write through the restarted n3 answered ${put.status}`);
      await put.body?.cancel();
      await writer.until(writer.acked + 20, "after the restart");

      await writer.stop();
      assert.equal(writer.failed, 0, writer.errors.slice(0, 3).join("\n"));
      const info = await client.getQueue("q");
      assert.equal(info.ready, writer.acked);
      console.error(`tls reload: ${writer.acked} writes acked, 0 failed, 3 reloads, a restart`);
    } finally {
      await writer.stop();
      await client.close();
      trust.close();
      await nodes.stop();
    }
  },
});

/** Publishes `w0`, `w1`, ... one at a time until stopped; counts what was acknowledged. */
class Writer {
  acked = 0;
  failed = 0;
  readonly errors: string[] = [];
  #stop = false;
  #done: Promise<void> = Promise.resolve();

  constructor(private readonly client: Client) {}

  start(): void {
    this.#done = (async () => {
      for (let i = 0; !this.#stop && i < 100_000; i++) {
        try {
          await this.client.publish("q", { id: `w${i}`, body: i });
          this.acked++;
        } catch (e) {
          this.failed++;
          this.errors.push(String(e));
        }
      }
    })();
  }

  /** Waits (30 s at most) until `n` writes were acknowledged. */
  async until(n: number, what: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (this.acked < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.acked} writes acked ${what}`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

/** New certificate and key in node `id`'s files, a SIGHUP; checks what the reload changed. */
async function reloadOne(
  nodes: Nodes,
  ca: TestCa,
  certs: Map<string, TestCert>,
  id: string,
  writer: Writer,
): Promise<void> {
  const before = certs.get(id)!;
  // A new key and certificate in the same files, as a certificate manager renews them.
  const renewed = await pki!.cert(ca, id, { file: id });
  assert.notEqual(renewed.certPem, before.certPem);
  certs.set(id, renewed);
  const marks = new Map(nodes.ids.map((n) => [n, nodes.logs(n).length]));
  const reloads = count(nodes.logs(id), '"event":"tls_reloaded"');
  const ackedAtSignal = writer.acked;
  Deno.kill(nodes.pid(id)!, "SIGHUP");
  const deadline = Date.now() + 15_000;
  while (count(nodes.logs(id), '"event":"tls_reloaded"') === reloads) {
    if (Date.now() > deadline) throw new Error(`${id} did not reload:\n${nodes.logs(id)}`);
    await sleep(20);
  }
  await writer.until(ackedAtSignal + 20, `after ${id}'s reload`);
  // New connections get the new certificate.
  assert.equal(await servedCertificate(nodes.port(id), ca.certFile), pem(renewed.certPem));
  // No link dropped, in either direction: the TLS front swaps the certificate for new
  // connections only (src/server/tls_front.ts), so the links peers dialed to it keep going too.
  for (const n of nodes.ids) {
    assert.doesNotMatch(nodes.logs(n).slice(marks.get(n)), /"event":"link_(down|silent)"/);
  }
  const since = nodes.logs(id).slice(marks.get(id));
  assert.doesNotMatch(since, /tls_reload_failed|node_fatal/);
}

/** A key that is not the certificate's: the reload is refused, the node keeps serving as it was. */
async function refusesBadReload(nodes: Nodes, good: TestCert, ca: TestCa, writer: Writer) {
  const stranger = await pki!.cert(ca, "stranger");
  await Deno.writeTextFile(good.keyFile, stranger.keyPem);
  const failures = count(nodes.logs("n1"), '"event":"tls_reload_failed"');
  Deno.kill(nodes.pid("n1")!, "SIGHUP");
  const deadline = Date.now() + 15_000;
  while (count(nodes.logs("n1"), '"event":"tls_reload_failed"') === failures) {
    if (Date.now() > deadline) {
      throw new Error(`n1 did not refuse the reload:\n${nodes.logs("n1")}`);
    }
    await sleep(20);
  }
  assert.match(nodes.logs("n1"), /tls_reload_failed[^\n]*not the private key/);
  assert.equal(await servedCertificate(nodes.port("n1"), ca.certFile), pem(good.certPem));
  await writer.until(writer.acked + 10, "after a refused reload");
  await Deno.writeTextFile(good.keyFile, good.keyPem);
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

globalThis.addEventListener("unload", () => {
  if (pki !== undefined) Deno.removeSync(pki.dir, { recursive: true });
});
