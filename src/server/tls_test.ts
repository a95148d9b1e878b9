import assert from "node:assert/strict";
import { TestPki } from "../../test/testing/tls.ts";
import { loadTls, secretFileWarning } from "./tls.ts";

const pki = await TestPki.create();

Deno.test("secretFileWarning() warns about a world-readable secret file only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/secret`;
    await Deno.writeTextFile(path, "s3cret\n");
    await Deno.chmod(path, 0o644);
    assert.match(secretFileWarning(path) ?? "", /readable by every user \(mode 644\)/);
    await Deno.chmod(path, 0o640);
    assert.equal(secretFileWarning(path), undefined);
    await Deno.chmod(path, 0o600);
    assert.equal(secretFileWarning(path), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "loadTls() checks the files: key of the certificate, peer chain, listener under --peer-ca",
  ignore: pki === undefined,
  fn: async () => {
    const ca = await pki!.ca("load");
    const other = await pki!.ca("load-other");
    const n1 = await pki!.cert(ca, "n1");
    const public1 = await pki!.cert(other, "public");
    const peerTls = { caFile: ca.certFile, certFile: n1.certFile, keyFile: n1.keyFile };
    const both = await loadTls({ tls: { certFile: n1.certFile, keyFile: n1.keyFile }, peerTls });
    assert.equal(both.listener?.subject, "CN=n1");
    assert.equal(both.peer?.leaf.subject, "CN=n1");
    // A listener certificate from another CA: peers, which trust only the cluster CA, would
    // refuse it, so the node refuses to start with it.
    await assert.rejects(
      loadTls({ tls: { certFile: public1.certFile, keyFile: public1.keyFile }, peerTls }),
      /--tls-cert .* does not chain to --peer-ca/,
    );
    // Without peer TLS it is fine: clients trust whatever CA they are given.
    const alone = await loadTls({
      tls: { certFile: public1.certFile, keyFile: public1.keyFile },
      peerTls: undefined,
    });
    assert.equal(alone.peer, undefined);
    await assert.rejects(
      loadTls({ tls: { certFile: n1.certFile, keyFile: public1.keyFile }, peerTls: undefined }),
      /--tls-key is not the private key of --tls-cert/,
    );
    await assert.rejects(
      loadTls({ tls: undefined, peerTls: { ...peerTls, caFile: other.certFile } }),
      /--peer-cert .* does not chain to the CA/,
    );
    await assert.rejects(
      loadTls({ tls: undefined, peerTls: { ...peerTls, keyFile: `${pki!.dir}/missing.key` } }),
      /cannot read --peer-key/,
    );
  },
});

globalThis.addEventListener("unload", () => {
  if (pki !== undefined) Deno.removeSync(pki.dir, { recursive: true });
});
