import assert from "node:assert/strict";
import { healthUrl } from "./healthcheck.ts";

Deno.test("healthcheck asks the node's own port on loopback, over https with a certificate", () => {
  assert.equal(healthUrl({}), "http://127.0.0.1:8080/healthz");
  assert.equal(healthUrl({ QUORUMQ_LISTEN: "0.0.0.0:9000" }), "http://127.0.0.1:9000/healthz");
  assert.equal(healthUrl({ QUORUMQ_LISTEN: "[::]:9000" }), "http://127.0.0.1:9000/healthz");
  assert.equal(healthUrl({ QUORUMQ_LISTEN: "10.0.0.5:8080" }), "http://10.0.0.5:8080/healthz");
  assert.equal(
    healthUrl({ QUORUMQ_LISTEN: "0.0.0.0:8080", QUORUMQ_TLS_CERT: "/run/secrets/tls.crt" }),
    "https://127.0.0.1:8080/healthz",
  );
});

Deno.test("healthcheck uses https when only --peer-cert is given (the listener serves it)", () => {
  assert.equal(
    healthUrl({ QUORUMQ_LISTEN: "0.0.0.0:8080", QUORUMQ_PEER_CERT: "/run/secrets/tls.crt" }),
    "https://127.0.0.1:8080/healthz",
  );
});

Deno.test("healthcheck exits 0 on a node that answers and 1 on a closed port", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/healthz"
        ? new Response("{}")
        : new Response("", { status: 404 }),
  );
  const port = server.addr.port;
  const run = (url: string) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        new URL("./healthcheck.ts", import.meta.url).pathname,
        url,
      ],
      stdout: "null",
      stderr: "null",
    }).output();
  try {
    assert.equal((await run(`http://127.0.0.1:${port}/healthz`)).code, 0);
    assert.equal((await run(`http://127.0.0.1:${port}/nothing`)).code, 1);
  } finally {
    await server.shutdown();
  }
  assert.equal((await run(`http://127.0.0.1:${port}/healthz`)).code, 1);
});
