import assert from "node:assert/strict";
import { edgeSettings } from "./mod.ts";

Deno.test("edge settings: read from an env's strings, refused with a reason when wrong", () => {
  assert.deepEqual(
    edgeSettings({
      QUORUMQ_UPSTREAM: " https://n1.example:8443, wss://n2.example:8443/ ",
      QUORUMQ_EDGE_TOKEN: "relay-token-1",
      QUORUMQ_EDGE_MAX_BODY_BYTES: "65536",
      QUORUMQ_EDGE_FOLLOW_LEADER: "false",
      QUORUMQ_EDGE_STALE_CACHE_MS: "0",
      QUORUMQ_EDGE_CORS_ORIGIN: "https://app.example/, http://localhost:3000",
      EDGE_GATEWAY: {},
    }),
    {
      upstream: ["https://n1.example:8443", "wss://n2.example:8443/"],
      token: "relay-token-1",
      maxBodyBytes: 65536,
      followLeader: false,
      staleCacheMs: 0,
      corsOrigins: ["https://app.example", "http://localhost:3000"],
    },
  );
  assert.deepEqual(edgeSettings({ QUORUMQ_UPSTREAM: "http://127.0.0.1:8081" }), {
    upstream: ["http://127.0.0.1:8081"],
    followLeader: true,
  });
  assert.throws(() => edgeSettings({}), /QUORUMQ_UPSTREAM must name at least one/);
  assert.throws(
    () => edgeSettings({ QUORUMQ_UPSTREAM: "http://n1/v1/queues" }),
    /not a node's base URL/,
  );
  assert.throws(
    () => edgeSettings({ QUORUMQ_UPSTREAM: "ftp://n1:21" }),
    /not a node's base URL/,
  );
  assert.throws(
    () => edgeSettings({ QUORUMQ_UPSTREAM: "http://n1:1", QUORUMQ_EDGE_MAX_BODY_BYTES: "-5" }),
    /positive integer/,
  );
  assert.throws(
    () => edgeSettings({ QUORUMQ_UPSTREAM: "http://n1:1", QUORUMQ_EDGE_STALE_CACHE_MS: "1.5" }),
    /QUORUMQ_EDGE_STALE_CACHE_MS must be a whole number/,
  );
  assert.throws(
    () =>
      edgeSettings({ QUORUMQ_UPSTREAM: "http://n1:1", QUORUMQ_EDGE_CORS_ORIGIN: "https://a/x" }),
    /QUORUMQ_EDGE_CORS_ORIGIN: "https:\/\/a\/x" is not an origin/,
  );
});
