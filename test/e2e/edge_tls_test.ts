/**
 * The edge gateway in front of a 3-node cluster on TLS (`--tls-cert`/`--tls-key` on the client
 * listener, peer TLS between nodes), with certificates of a private CA made by openssl at run
 * time: each runtime's gateway reaches the nodes at `https://` trusting that CA
 * (`--upstream-ca`), follows the leader over TLS, and answers the node's own answers; without
 * that CA it reaches no node (503 `no_leader`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { startEdge } from "../../src/edge_targets/run.ts";
import { Nodes } from "./nodes.ts";
import { assertProblem, assertStatus, call, eventually } from "./http.ts";
import { type TestCert, TestPki } from "../testing/tls.ts";

const pki = await TestPki.create();

for (const runtime of ["workerd", "deno"] as const) {
  Deno.test({
    name: `e2e edge (${runtime}) over TLS to the nodes: a private CA, the leader followed`,
    ignore: pki === undefined,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const ca = await pki!.ca(`edge-${runtime}`);
      const certs = new Map<string, TestCert>();
      for (const id of ["n1", "n2", "n3"]) certs.set(id, await pki!.cert(ca, id));
      const nodes = await Nodes.start({
        count: 3,
        storage: "memory",
        tls: {
          caPem: ca.certPem,
          args: (id) => [
            ...["--tls-cert", certs.get(id)!.certFile, "--tls-key", certs.get(id)!.keyFile],
            ...["--peer-ca", ca.certFile],
            ...["--peer-cert", certs.get(id)!.certFile, "--peer-key", certs.get(id)!.keyFile],
          ],
        },
      });
      const edge = await startEdge({
        runtime,
        upstream: nodes.urls(),
        listen: "127.0.0.1:0",
        caFile: ca.certFile,
        output: "null",
      }).catch(async (e) => {
        await nodes.stop();
        throw e;
      });
      try {
        assert.match(nodes.urls()[0], /^https:/);
        const leader = await nodes.waitLeader();
        assertStatus(await call(edge.url, "PUT", "/v1/queues/tls", { body: {} }), 201);
        const sent = await call(edge.url, "POST", "/v1/queues/tls/messages", {
          body: { id: "t1", body: "over tls" },
        });
        assertStatus(sent, 201);
        await eventually("the gateway on the leader", async () => {
          await call(edge.url, "GET", "/v1/queues/tls");
          const h = await call(edge.url, "GET", "/healthz");
          return h.body.upstream === leader ? true : undefined;
        });
        const got = await call(edge.url, "POST", "/v1/queues/tls/receive", { body: {} });
        assertStatus(got, 200);
        assert.equal(got.body.messages[0].body, "over tls");
        // Without the CA the gateway trusts no node: nothing is sent.
        const blind = await startEdge({
          runtime,
          upstream: nodes.urls(),
          listen: "127.0.0.1:0",
          output: "null",
        });
        try {
          const refused = await call(blind.url, "GET", "/v1/queues/tls");
          assertProblem(refused, 503, "no_leader");
        } finally {
          await blind.stop();
        }
      } finally {
        await edge.stop();
        await nodes.stop();
      }
    },
  });
}
