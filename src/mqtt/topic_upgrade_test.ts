/**
 * The upgrade of an unbounded `mqtt` topic to interest retention at CONNECT keeps every option
 * the topic has, from the topic's own description. Before, it copied a fixed list of six option
 * names: an option outside it (one added to the API later) was reset by the upgrade's PUT, since
 * a PUT replaces a topic's options.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BrokerApi, mqttTopicUpgrade } from "./broker_api.ts";
import type { ApiRequest } from "./broker_api.ts";

/** `GET /v1/topics/mqtt` of an unbounded topic with an option the old list did not name. */
const DESCRIPTION = {
  name: "mqtt",
  dedupWindowMs: 60_000,
  maxRetained: 100,
  maxDeliveryAttemptsDefault: 7, // an option outside the old list
  retainedTtlMs: 3_600_000, // and another
  firstSeq: 1,
  nextSeq: 11,
  messages: 10,
  bytes: 1234,
  published: 10,
  subscriptions: 2,
};

Deno.test("the upgrade keeps every option of the topic, an unlisted one too, and no counter", () => {
  assert.deepEqual(mqttTopicUpgrade(DESCRIPTION), {
    dedupWindowMs: 60_000,
    maxRetained: 100,
    maxDeliveryAttemptsDefault: 7,
    retainedTtlMs: 3_600_000,
    retention: "interest",
  });
});

Deno.test("a topic bounded or given a retention is not upgraded", () => {
  for (
    const given of [{ maxAgeMs: 1 }, { maxMessages: 1 }, { maxBytes: 1 }, {
      retention: "limits",
    }]
  ) {
    assert.equal(mqttTopicUpgrade({ ...DESCRIPTION, ...given }), undefined);
  }
  assert.equal(mqttTopicUpgrade(null), undefined);
});

Deno.test("ensureTopic PUTs the description's options back with interest retention", async () => {
  const puts: unknown[] = [];
  const fetch = (r: ApiRequest) => {
    if (r.method === "PUT") puts.push(JSON.parse(r.text!));
    return Promise.resolve({ status: r.method === "PUT" ? 200 : 500, text: "{}" });
  };
  const api = new BrokerApi(fetch, undefined);
  assert.equal(await api.ensureTopic({ status: 200, body: DESCRIPTION }), undefined);
  assert.deepEqual(puts, [mqttTopicUpgrade(DESCRIPTION)]);
  // The topic as the gateway makes it now: nothing to change.
  assert.equal(await api.ensureTopic({ status: 200, body: { retention: "interest" } }), undefined);
  assert.equal(puts.length, 1);
});

Deno.test("a refused upgrade is answered, to be logged", async () => {
  const fetch = (_r: ApiRequest) => Promise.resolve({ status: 400, text: '{"detail":"no"}' });
  const api = new BrokerApi(fetch, undefined);
  const refused = await api.ensureTopic({ status: 200, body: DESCRIPTION });
  assert.equal(refused?.status, 400);
});
