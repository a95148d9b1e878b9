/**
 * Certificates reload on SIGHUP without dropping the cluster: three real nodes on TLS (peer TLS,
 * the listener serving the peer certificate), a writer publishing all along; each node in turn
 * gets a new certificate and key in its files and a SIGHUP. Writes commit before, during and after;
 * each listener then serves the new certificate; the reloaded node's own links (the ones it
 * dialed) never drop; a node restarted afterwards joins with its new certificate; every
 * acknowledged write is there exactly once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { Nodes, sleep } from "./nodes.ts";
import { type TestCert, TestPki } from "./_testing_tls.ts";

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
    const nodes = await Nodes.start({
      count: 3,
      storage: "memory",
      tls: {
        caPem: ca.certPem,
        args: (id) => [
          ...["--peer-ca", ca.certFile],
          ...["--peer-cert", certs.get(id)!.certFile, "--peer-key", certs.get(id)!.keyFile],
        ],
      },
    });
    const client = new Client({ nodes: nodes.urls(), caCerts: [ca.certPem] });
    let acked = 0;
    let failed = 0;
    let stop = false;
    const errors: string[] = [];
    try {
      await client.createQueue("q");
      const writer = (async () => {
        for (let i = 0; !stop && i < 100_000; i++) {
          try {
            await client.publish("q", { id: `w${i}`, body: i });
            acked++;
          } catch (e) {
            failed++;
            errors.push(String(e));
          }
        }
      })();
      const until = async (n: number, what: string) => {
        const deadline = Date.now() + 30_000;
        while (acked < n) {
          if (Date.now() > deadline) throw new Error(`only ${acked} writes acked ${what}`);
          await sleep(20);
        }
      };
      await until(20, "before the reloads");

      for (const id of nodes.ids) {
        const before = certs.get(id)!;
        // A new key and certificate in the same files, as a certificate manager renews them.
        const renewed = await pki!.cert(ca, id, { file: id });
        assert.notEqual(renewed.certPem, before.certPem);
        certs.set(id, renewed);
        const logMark = nodes.logs(id).length;
        const reloads = count(nodes.logs(id), '"event":"tls_reloaded"');
        const ackedAtSignal = acked;
        Deno.kill(nodes.pid(id)!, "SIGHUP");
        const deadline = Date.now() + 15_000;
        while (count(nodes.logs(id), '"event":"tls_reloaded"') === reloads) {
          if (Date.now() > deadline) throw new Error(`${id} did not reload:\n${nodes.logs(id)}`);
          await sleep(20);
        }
        await until(ackedAtSignal + 20, `after ${id}'s reload`);
        // New connections get the new certificate.
        assert.equal(await servedCertificate(nodes.port(id), ca.certFile), pem(renewed.certPem));
        // The links this node dialed kept going: the reload restarts only its listener.
        const since = nodes.logs(id).slice(logMark);
        assert.doesNotMatch(since, /"event":"link_down"[^\n]*"direction":"out"/);
        assert.doesNotMatch(since, /tls_reload_failed|node_fatal/);
      }
      await until(acked + 20, "after every reload");

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
      await until(acked + 20, "after the restart");

      stop = true;
      await writer;
      assert.equal(failed, 0, errors.slice(0, 3).join("\n"));
      const info = await client.getQueue("q");
      assert.equal(info.ready, acked);
      console.error(`tls reload: ${acked} writes acked, 0 failed, 3 reloads and a restart`);
    } finally {
      stop = true;
      await client.close();
      await nodes.stop();
    }
  },
});

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function pem(text: string): string {
  return text.trim().replace(/\r\n/g, "\n");
}

/** The certificate a TLS listener presents to a new connection (openssl s_client). */
async function servedCertificate(port: number, caFile: string): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-CAfile", caFile, "-verify_return_error"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const match = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/);
  if (match === null) throw new Error(`openssl s_client got no certificate:\n${text}`);
  return pem(match[0]);
}

globalThis.addEventListener("unload", () => {
  if (pki !== undefined) Deno.removeSync(pki.dir, { recursive: true });
});
