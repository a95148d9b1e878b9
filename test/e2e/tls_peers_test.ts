/**
 * Peer links and the forwarding channel on mutually authenticated TLS (`--peer-ca`,
 * `--peer-cert`, `--peer-key`), with three real nodes and certificates made by openssl at run
 * time: the cluster elects and commits (writes through a follower ride the forwarding channel),
 * and a dialer whose certificate the cluster CA did not sign (self-signed, or from another CA) is
 * refused and logged, on the links and on the forwarding channel, even with the right secret.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { type PeerCredentials, PeerTls, Transport } from "../../cluster/transport/mod.ts";
import { ForwardChannels } from "../../src/server/mod.ts";
import { Nodes, sleep } from "./nodes.ts";
import { type TestCa, type TestCert, TestPki } from "../testing/tls.ts";

const pki = await TestPki.create();

/** `--tls-*` is left out: the listener serves the peer certificate (one listener, one cert). */
function peerArgs(ca: TestCa, certs: Map<string, TestCert>) {
  return (id: string) => [
    ...["--peer-ca", ca.certFile],
    ...["--peer-cert", certs.get(id)!.certFile, "--peer-key", certs.get(id)!.keyFile],
  ];
}

/**
 * Credentials that trust the cluster CA (so the dial's TLS check passes) but prove `cert`, which
 * the cluster CA did not sign: what a node with a stolen URL and secret but no cluster
 * certificate would present. `loadPeerCredentials` would refuse it, so it is built by hand.
 */
function rogueCredentials(ca: TestCa, cert: TestCert): PeerCredentials {
  return {
    caPems: [ca.certPem],
    cas: [new X509Certificate(ca.certPem)],
    chainPem: cert.certPem,
    leaf: new X509Certificate(cert.certPem),
    key: createPrivateKey(cert.keyPem),
  };
}

Deno.test({
  name: "peer TLS: 3 nodes commit; a dialer without a cluster certificate is refused and logged",
  ignore: pki === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ca = await pki!.ca("cluster");
    const certs = new Map<string, TestCert>();
    for (const id of ["n1", "n2", "n3"]) certs.set(id, await pki!.cert(ca, id));
    const nodes = await Nodes.start({
      count: 3,
      storage: "memory",
      tls: { caPem: ca.certPem, args: peerArgs(ca, certs) },
    });
    try {
      const leader = await nodes.waitLeader();
      const follower = nodes.ids.find((id) => id !== leader)!;
      // A write through a follower rides the forwarding channel (its own TLS + proof).
      const put = await nodes.fetch(`${nodes.url(follower)}/v1/queues/q`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.ok(put.ok, `PUT through ${follower} answered ${put.status}`);
      await put.body?.cancel();
      const pub = await nodes.fetch(`${nodes.url(follower)}/v1/queues/q/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "m1", body: "via the follower" }),
      });
      assert.ok(pub.ok, `publish through ${follower} answered ${pub.status}`);
      await pub.body?.cancel();
      for (const id of nodes.ids) {
        assert.match(nodes.logs(id), /"event":"link_up".*"subject":"CN=n\d"/);
      }

      // Rogue dialers with the right secret and cluster id: self-signed, and another CA's.
      const otherCa = await pki!.ca("other");
      const rogues = [
        { name: "self-signed", cert: await pki!.selfSigned("rogue") },
        { name: "another CA", cert: await pki!.cert(otherCa, "n3", { file: "n3-other" }) },
      ];
      for (const rogue of rogues) await refusesRogue(nodes, ca, leader, rogue);
      // The rogue's write never ran; the follower's did.
      const mine = await nodes.fetch(`${nodes.url(leader)}/v1/queues/q/messages/m1`);
      assert.equal(mine.status, 200);
      await mine.body?.cancel();
      const lookup = await nodes.fetch(`${nodes.url(leader)}/v1/queues/q/messages/rogue`);
      assert.equal(lookup.status, 404);
      await lookup.body?.cancel();
    } finally {
      await nodes.stop();
    }
  },
});

/** A dialer with the right secret and cluster id but `rogue.cert` is refused, links and forwarding. */
async function refusesRogue(
  nodes: Nodes,
  ca: TestCa,
  leader: string,
  rogue: { name: string; cert: TestCert },
): Promise<void> {
  const creds = rogueCredentials(ca, rogue.cert);
  const logged: string[] = [];
  const linkRefusal =
    /"peer_refused"[^\n]*"reason":"bad_certificate"[^\n]*not signed by the cluster CA/g;
  const forwardRefusal = /"peer_refused"[^\n]*"channel":"forward"[^\n]*"reason":"bad_certificate"/g;
  const linkBefore = matches(nodes.logs("n1"), linkRefusal);
  const forwardBefore = matches(nodes.logs(leader), forwardRefusal);
  const t = new Transport({
    selfId: "n9",
    clusterId: nodes.clusterId,
    secret: "test-cluster-secret",
    peers: new Map([["n1", nodes.url("n1")]]),
    onMessages: () => {},
    log: (event, details) => logged.push(JSON.stringify({ event, ...details })),
    peerTls: new PeerTls(creds),
  });
  try {
    await waitFor(
      () =>
        matches(nodes.logs("n1"), linkRefusal) > linkBefore &&
        logged.some((l) => /refused: bad_certificate/.test(l)),
      `${rogue.name}: n1 logs the refusal, the dialer sees it`,
    );
    assert.equal(t.stats().outbound.n1?.state === "open", false);
  } finally {
    await t.close();
  }
  // The forwarding channel refuses the same certificate before any request runs.
  const forwarding = new ForwardChannels({}, {
    selfId: "n9",
    clusterId: nodes.clusterId,
    peerTls: new PeerTls(creds),
  });
  const signal = AbortSignal.timeout(5_000);
  await assert.rejects(
    forwarding.fetch({
      leaderUrl: nodes.url(leader),
      method: "POST",
      path: "/v1/queues/q/messages",
      headers: [["content-type", "application/json"]],
      body: new TextEncoder().encode(JSON.stringify({ id: "rogue", body: "no" })),
      signal,
    }),
  );
  forwarding.close();
  await waitFor(
    () => matches(nodes.logs(leader), forwardRefusal) > forwardBefore,
    `${rogue.name}: the leader logs the forwarding refusal`,
  );
}

function matches(text: string, re: RegExp): number {
  return [...text.matchAll(re)].length;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(50);
  }
}

globalThis.addEventListener("unload", () => {
  if (pki !== undefined) Deno.removeSync(pki.dir, { recursive: true });
});
