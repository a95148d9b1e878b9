import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { TestPki } from "../../test/testing/tls.ts";
import { certProofInput, checkChain, loadPeerCredentials, PeerTls } from "./peer_tls.ts";
import { CLUSTER_LINK_PATH, Transport } from "./mod.ts";
import { within } from "./_testing_harness.ts";

const pki = await TestPki.create();
const DAY = 24 * 3600 * 1000;

const input = certProofInput({ serverNonce: "n", clientId: "a", serverId: "b", clusterId: "c" });

Deno.test({
  name: "checkChain() takes the CA's leaves (directly or through an intermediate), nothing else",
  ignore: pki === undefined,
  fn: async () => {
    const ca = await pki!.ca("chain");
    const cas = [new X509Certificate(ca.certPem)];
    const leaf = await pki!.cert(ca, "n1");
    assert.deepEqual(checkChain(leaf.certPem, cas), {
      ok: true,
      subject: "CN=n1",
      fingerprint: new X509Certificate(leaf.certPem).fingerprint256,
    });
    const mid = await pki!.intermediate(ca, "mid");
    const below = await pki!.cert(mid, "n2");
    assert.equal(checkChain(below.certPem + mid.certPem, cas).ok, true);
    // Without the intermediate the leaf leads nowhere.
    assert.match(fail(checkChain(below.certPem, cas)), /CN=n2 is not signed by the cluster CA/);
    // A leaf is no intermediate: a chain through one is refused.
    const fake = await pki!.cert(mid, "n3");
    assert.equal(checkChain(fake.certPem + leaf.certPem, cas).ok, false);
    assert.match(
      fail(checkChain((await pki!.selfSigned("rogue")).certPem, cas)),
      /not signed by the cluster CA/,
    );
    const other = await pki!.ca("other");
    assert.match(
      fail(checkChain((await pki!.cert(other, "n1", { file: "n1-other" })).certPem, cas)),
      /not signed/,
    );
    // Dates: the leaf is valid for 30 days from now, the CA too.
    assert.match(fail(checkChain(leaf.certPem, cas, Date.now() + 40 * DAY)), /expired/);
    assert.match(fail(checkChain(leaf.certPem, cas, Date.now() - 2 * DAY)), /not valid before/);
    assert.match(fail(checkChain("junk", cas)), /no certificate/);
    assert.match(fail(checkChain("x".repeat(40_000), cas)), /too large/);
  },
});

Deno.test({
  name: "PeerTls proves with its key; check() refuses another input, key or chain",
  ignore: pki === undefined,
  fn: async () => {
    const ca = await pki!.ca("proof");
    const a = await pki!.cert(ca, "a");
    const b = await pki!.cert(ca, "b");
    const tlsA = new PeerTls(
      loadPeerCredentials({ ca: ca.certPem, cert: a.certPem, key: a.keyPem }),
    );
    const tlsB = new PeerTls(
      loadPeerCredentials({ ca: ca.certPem, cert: b.certPem, key: b.keyPem }),
    );
    const proof = tlsA.prove(input);
    assert.equal(tlsB.check(proof.cert, proof.sig, input).ok, true);
    assert.match(fail(tlsB.check(proof.cert, proof.sig, input + "x")), /does not verify/);
    // b's chain with a's signature: the signature must be the chain's own key's.
    assert.match(fail(tlsB.check(b.certPem, proof.sig, input)), /does not verify/);
    assert.equal(fail(tlsB.check(proof.cert, "!!", input)).length > 0, true);
    // The files are checked when loaded.
    assert.throws(
      () => loadPeerCredentials({ ca: ca.certPem, cert: a.certPem, key: b.keyPem }),
      /not the private key/,
    );
    const other = await pki!.ca("other2");
    assert.throws(
      () => loadPeerCredentials({ ca: other.certPem, cert: a.certPem, key: a.keyPem }),
      /does not chain to the CA/,
    );
    assert.throws(() => loadPeerCredentials({ ca: "", cert: a.certPem, key: a.keyPem }), /no PEM/);
    // replace(): proofs and checks after it use the new credentials.
    const a2 = await pki!.cert(other, "a", { file: "a2" });
    tlsA.replace(loadPeerCredentials({ ca: other.certPem, cert: a2.certPem, key: a2.keyPem }));
    assert.equal(tlsA.check(proof.cert, proof.sig, input).ok, false);
    assert.deepEqual(tlsA.caCerts, [other.certPem.trim()]);
  },
});

Deno.test({
  name:
    "peer TLS links: a listener outside the cluster CA is refused by the dialer, a dialer without a proof by the listener",
  ignore: pki === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ca = await pki!.ca("links");
    const n1 = await pki!.cert(ca, "n1");
    const n2 = await pki!.cert(ca, "n2");
    const rogue = await pki!.selfSigned("n2-rogue");
    const creds = (c: { certPem: string; keyPem: string }) =>
      new PeerTls(loadPeerCredentials({ ca: ca.certPem, cert: c.certPem, key: c.keyPem }));
    const logs = new Map<string, string[]>();
    const transport = (id: string, peers: Map<string, string>, peerTls?: PeerTls) => {
      logs.set(id, []);
      return new Transport({
        selfId: id,
        clusterId: "c1",
        secret: "s3cret",
        peers,
        onMessages: () => {},
        log: (event, details) => logs.get(id)!.push(JSON.stringify({ event, ...details })),
        ...(peerTls ? { peerTls } : {}),
      });
    };
    const serve = (cert: { certPem: string; keyPem: string }, t: Transport) =>
      Deno.serve(
        { hostname: "127.0.0.1", port: 0, cert: cert.certPem, key: cert.keyPem, onListen() {} },
        (req) =>
          new URL(req.url).pathname === CLUSTER_LINK_PATH
            ? t.handleUpgrade(req)
            : new Response("", { status: 404 }),
      );
    // n2 serves a self-signed certificate: n1 (peer TLS) refuses it in the TLS handshake.
    const t2 = transport("n2", new Map(), creds(n2));
    const rogueServer = serve(rogue, t2);
    const t1 = transport(
      "n1",
      new Map([["n2", `https://127.0.0.1:${rogueServer.addr.port}`]]),
      creds(n1),
    );
    // n3 trusts the CA but sends no certificate proof; n4's listener requires one.
    const t4 = transport("n4", new Map(), creds(n2));
    const goodServer = serve(n2, t4);
    const t3 = transport(
      "n3",
      new Map([["n4", `https://127.0.0.1:${goodServer.addr.port}`]]),
      new NoProof(loadPeerCredentials({ ca: ca.certPem, cert: n1.certPem, key: n1.keyPem })),
    );
    try {
      const deadline = Date.now() + 10_000;
      const seen = () =>
        logs.get("n1")!.some((l) => /link_failed.*(certificate|UnknownIssuer)/i.test(l)) &&
        logs.get("n4")!.some((l) => /peer_refused.*no_certificate/.test(l));
      while (!seen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(
        logs.get("n1")!.some((l) => /link_failed.*(certificate|UnknownIssuer)/i.test(l)),
        logs.get("n1")!.join("\n"),
      );
      assert.ok(
        logs.get("n4")!.some((l) => /peer_refused.*no_certificate/.test(l)),
        logs.get("n4")!.join("\n"),
      );
      assert.notEqual(t1.stats().outbound.n2?.state, "open");
    } finally {
      for (const t of [t1, t2, t3, t4]) await within(t.close(), "a transport to close");
      await within(rogueServer.shutdown(), "the rogue listener to stop");
      await within(goodServer.shutdown(), "the good listener to stop");
    }
  },
});

/** Trusts the cluster CA when dialing, but proves nothing in its hello. */
class NoProof extends PeerTls {
  override prove(_input: string): { cert: string; sig: string } {
    return {} as { cert: string; sig: string };
  }
}

function fail(check: { ok: boolean; detail?: string }): string {
  assert.equal(check.ok, false, JSON.stringify(check));
  return check.detail ?? "";
}

globalThis.addEventListener("unload", () => {
  if (pki !== undefined) Deno.removeSync(pki.dir, { recursive: true });
});
