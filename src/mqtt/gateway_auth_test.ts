import assert from "node:assert/strict";
import { GatewayProof, loadAuthenticator } from "../http/mod.ts";
import { mqttGatewayAuth } from "./gateway_auth.ts";

const auth = await loadAuthenticator(JSON.stringify({
  tokens: [{ name: "sensor", token: "sensor-token-1", publish: ["mqtt:a/*"], consume: [] }],
}));
const gateway = mqttGatewayAuth(auth, "cluster-secret");
const RELEASE = "/v1/topics/mqtt/claims/mqtt-0123abcd/release";

Deno.test("gateway proof: made with the cluster secret over method, path, token and body; any change breaks it", () => {
  const tok = "Bearer sensor-token-1";
  const body = '{"holder":"n1/abc/1"}';
  const proof = gateway.proof.sign("POST", RELEASE, tok, body);
  assert.ok(gateway.proof.verify("POST", RELEASE, tok, body, proof));
  assert.ok(gateway.proof.verify("POST", RELEASE, tok, new TextEncoder().encode(body), proof));
  assert.ok(!gateway.proof.verify("PUT", RELEASE, tok, body, proof));
  assert.ok(!gateway.proof.verify("POST", `${RELEASE}x`, tok, body, proof));
  assert.ok(!gateway.proof.verify("POST", RELEASE, undefined, body, proof));
  assert.ok(!gateway.proof.verify("POST", RELEASE, tok, '{"holder":"n2/abc/1"}', proof));
  assert.ok(!gateway.proof.verify("POST", RELEASE, tok, body, "00"));
  const other = new GatewayProof("another-secret").sign("POST", RELEASE, tok, body);
  assert.ok(!gateway.proof.verify("POST", RELEASE, tok, body, other));
});

Deno.test("gateway auth: without a token, releasing a session's claim and nothing else", async () => {
  const self = await gateway.principal("POST", RELEASE, undefined);
  assert.ok(self !== undefined);
  assert.ok(self.can("consume", "topic", "mqtt"));
  assert.ok(!self.can("publish", "topic", "mqtt") && !self.can("consume", "topic", "other"));
  for (
    const [method, path] of [
      ["PUT", "/v1/topics/mqtt/claims/mqtt-0123abcd"],
      ["POST", "/v1/topics/mqtt/subscriptions/mqtt-0123abcd-q1/receive"],
      ["POST", "/v1/topics/other/claims/k/release"],
      ["POST", `${RELEASE}?x=1`],
    ]
  ) {
    assert.equal(await gateway.principal(method, path, undefined), undefined, path);
  }
});

Deno.test("gateway auth: a token's request runs as its principal, widened to the MQTT topic as the gateway widens it", async () => {
  const p = await gateway.principal("POST", "/v1/topics/mqtt/publish", "Bearer sensor-token-1");
  assert.equal(p?.name, "sensor");
  assert.ok(p.can("publish", "topic", "mqtt") && p.can("consume", "topic", "mqtt"));
  assert.ok(!p.can("admin", "topic", "mqtt") && !p.can("publish", "topic", "orders"));
  assert.equal(await gateway.principal("GET", "/v1/topics/mqtt", "Bearer not-a-token"), undefined);
});
