/**
 * A connection's Last Will: published once, even when its write's first answer is lost (a retry
 * carries the same message id, and the broker deduplicates it).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { MqttAccess } from "./access.ts";
import { type ApiRequest, BrokerApi } from "./broker_api.ts";
import { Inbound } from "./inbound.ts";
import { type Will, willRefusal } from "./will.ts";

/**
 * A fake API over a topic that deduplicates by message id as the broker does: each publish is
 * applied, and the first one's answer is lost (504, outcome unknown) after it was applied.
 */
function lossyTopic() {
  const stored: Record<string, unknown>[] = [];
  const ids = new Map<string, number>();
  let calls = 0;
  const fetch = (req: ApiRequest) => {
    calls++;
    const m = JSON.parse(req.text ?? "{}");
    const known = m.id === undefined ? undefined : ids.get(m.id);
    let answer = { seq: known, id: m.id, duplicate: known !== undefined };
    if (known === undefined) {
      stored.push(m);
      answer = { seq: stored.length, id: m.id ?? `~mqtt.${stored.length}`, duplicate: false };
      if (m.id !== undefined) ids.set(m.id, stored.length);
    }
    if (calls === 1) return Promise.resolve({ status: 504, text: "" });
    // As the API answers a single publish: 201 new, 200 a duplicate.
    const status = answer.duplicate ? 200 : 201;
    return Promise.resolve({ status, text: JSON.stringify(answer) });
  };
  return { api: new BrokerApi(fetch, undefined), stored, calls: () => calls };
}

function inboundOver(api: BrokerApi): Inbound {
  return new Inbound({
    api,
    access: MqttAccess.OPEN,
    clientId: "c",
    owner: { clientId: "c", principal: undefined },
    version: 5,
    maxBodyBytes: 1 << 20,
    live: () => false, // the connection has ended: a will is retried all the same
    send: () => assert.fail("nothing is sent"),
    ack: () => assert.fail("nothing is answered"),
    log: () => {},
    fail: () => assert.fail("no failure"),
  });
}

for (const qos of [1, 2] as const) {
  Deno.test(`a QoS ${qos} will whose first answer is lost is published once`, async () => {
    const topic = lossyTopic();
    const inbound = inboundOver(topic.api);
    const will: Will = { topic: "gone/c", payload: Buffer.from("bye"), qos, retain: false };
    const a = await inbound.will(will);
    assert.ok(typeof a !== "string" && a.status === 200, "the retry is the first one's duplicate");
    assert.equal(topic.calls(), 2, "retried once after the lost answer");
    assert.equal(topic.stored.length, 1, "one will in the topic");
    assert.equal(topic.stored[0].id, inbound.willId);
  });
}

Deno.test("each connection's will has its own id, of the API's bounds", () => {
  const a = inboundOver(lossyTopic().api).willId;
  const b = inboundOver(lossyTopic().api).willId;
  assert.notEqual(a, b);
  assert.ok(a.length <= 256 && !a.startsWith("~"));
});

Deno.test("a will with a property past the API's header bounds is refused at CONNECT (0x83)", () => {
  const will = (properties: Will["properties"]): Will => ({
    topic: "w",
    payload: Buffer.from("bye"),
    qos: 1,
    retain: false,
    properties,
  });
  const long = "v".repeat(8_193);
  assert.equal(willRefusal(will({ userProperties: { a: long } }))?.reason, 0x83);
  assert.equal(willRefusal(will({ userProperties: { ["n".repeat(257)]: "x" } }))?.reason, 0x83);
  assert.equal(willRefusal(will({ responseTopic: long }))?.reason, 0x83);
  assert.equal(willRefusal(will({ userProperties: { a: "v".repeat(8_192) } })), undefined);
  assert.equal(willRefusal(will(undefined)), undefined);
  assert.equal(willRefusal({ ...will(undefined), topic: "w/#" })?.reason, 0x90);
});
