/**
 * A connection's QoS 2 writes name its holder of the session's claim, and a write the broker
 * refuses because the session moved (`session_moved`) closes the connection without an answer;
 * a write is not retried once its connection ended (test/chaos/FINDINGS.md, F11).
 */

import assert from "node:assert/strict";
import type { IPublishPacket, IPubrelPacket } from "mqtt-packet";
import { MqttAccess } from "./access.ts";
import { type ApiRequest, BrokerApi } from "./broker_api.ts";
import { harness, publish, settle } from "./_testing_inbound.ts";
import { Qos2Out } from "./qos2_out.ts";
import { SessionClaim, sessionKey } from "./session.ts";
import { SessionFilters } from "./session_filters.ts";
import { sessionSubscription } from "./subscriptions.ts";

const qos2 = (id: number): IPublishPacket => ({ ...publish(id), qos: 2 });
const pubrel = (id: number): IPubrelPacket => ({ cmd: "pubrel", messageId: id });
const MOVED = { type: "session_moved", detail: "claim held by another" };

Deno.test("a QoS 2 PUBLISH's once names the connection's holder; a PUBREL's free too", async () => {
  const { inbound, requests, answered } = harness(MqttAccess.OPEN, 4, 1 << 20, { holder: "h-1" });
  inbound.publish(qos2(7));
  inbound.publish(publish(8)); // QoS 1: no once
  inbound.flush();
  await settle();
  const claim = sessionKey({ clientId: "c", principal: undefined });
  assert.deepEqual(requests[0].messages.map((m) => (m as { once?: unknown }).once), [
    { claim, slot: 7, holder: "h-1" },
    undefined,
  ]);
  requests[0].answer(201, { results: [{ seq: 1 }, { seq: 2 }] });
  await settle();
  inbound.pubrel(pubrel(7));
  inbound.flush();
  await settle();
  assert.deepEqual(JSON.parse(requests[1].req.text!), { slots: [7], holder: "h-1" });
  requests[1].answer(200, { freed: 1 });
  await settle();
  assert.deepEqual(answered, ["pubrec 7", "puback 8", "pubcomp 7"]);
});

Deno.test("a batch with a message refused session_moved answers none of its PUBLISHes and closes the connection as taken over", async () => {
  const { inbound, requests, answered, failReasons } = harness(MqttAccess.OPEN, 5, 1 << 20, {
    holder: "h-1",
  });
  inbound.publish(publish(1));
  inbound.publish(qos2(2));
  inbound.flush();
  await settle();
  inbound.publish(qos2(3));
  inbound.flush();
  requests[0].answer(201, { results: [{ seq: 1, id: "x", duplicate: false }, { error: MOVED }] });
  await settle();
  assert.deepEqual(answered, [], "no PUBACK, no PUBREC: the session is another connection's");
  assert.deepEqual(failReasons, [0x8e]);
  assert.equal(requests.length, 1, "nothing more is sent");
});

Deno.test("a PUBREL whose free is refused session_moved gets no PUBCOMP; the connection closes", async () => {
  const { inbound, requests, answered, failReasons } = harness(MqttAccess.OPEN, 5, 1 << 20, {
    holder: "h-1",
  });
  inbound.pubrel(pubrel(4));
  inbound.flush();
  await settle();
  requests[0].answer(409, { ...MOVED, status: 409 });
  await settle();
  assert.deepEqual(answered, []);
  assert.deepEqual(failReasons, [0x8e]);
});

Deno.test("a subscriber's PUBREC settle and PUBCOMP free name the holder", async () => {
  const sent: ApiRequest[] = [];
  const api = new BrokerApi((req) => {
    sent.push(req);
    return Promise.resolve({ status: 200, text: '{"results":[],"kept":true}' });
  }, undefined);
  const settled: number[][] = [];
  const q = new Qos2Out(
    { api, owner: { clientId: "c", principal: undefined }, holder: "h-2" },
    (ids) => settled.push(ids),
    (d) => assert.fail(d),
  );
  q.settle(5, "/v1/topics/mqtt/subscriptions/s-q2", "r1");
  await settle();
  q.done(5);
  await settle();
  assert.deepEqual(sent.map((r) => [r.path.slice(r.path.lastIndexOf("/")), JSON.parse(r.text!)]), [
    ["/settle", { subscription: "s-q2", receipts: ["r1"], hold: [5], holder: "h-2" }],
    ["/free", { slots: [], pubrels: [5], holder: "h-2" }],
  ]);
  assert.deepEqual(settled, [[5]]);
});

Deno.test("BrokerApi.write retries no more once its connection ended", async () => {
  let live = true;
  let calls = 0;
  const api = new BrokerApi(() => {
    calls++;
    if (calls === 2) live = false; // the connection ends during the retry
    return Promise.resolve({ status: 503, text: '{"type":"no_leader"}' });
  }, undefined);
  const a = await api.write("POST", "/v1/x", {}, {}, 60_000, undefined, () => live);
  assert.equal(a.status, 503);
  assert.equal(calls, 2, "one retry while live, none after");
  live = false;
  calls = 0;
  await api.write("POST", "/v1/x", {}, {}, 60_000, undefined, () => live);
  assert.equal(calls, 1);
});

Deno.test("a session's data update (SUBSCRIBE) is a take only while its connection holds the session (ifHeld)", async () => {
  const sent: ApiRequest[] = [];
  const api = new BrokerApi((req) => {
    sent.push(req);
    return Promise.resolve({ status: 409, text: JSON.stringify({ ...MOVED, status: 409 }) });
  }, undefined);
  const session = new SessionClaim(api, { clientId: "c", principal: undefined }, "h-3");
  await session.saveData({ shared: [["$share/g/a", 1]], options: { nl: [], rap: [] } });
  // A late retry of an ended connection's SUBSCRIBE: refused (session_moved) rather than taking
  // the session back from the connection that took it over.
  assert.deepEqual(sent.map((r) => [r.method, JSON.parse(r.text!)]), [
    ["PUT", { holder: "h-3", data: '{"shared":[["$share/g/a",1]]}', ifHeld: true }],
  ]);
});

Deno.test("a session's filter write (SUBSCRIBE, UNSUBSCRIBE) is not retried once its connection ended", async () => {
  let live = true;
  const sent: string[] = [];
  const api = new BrokerApi((req) => {
    sent.push(`${req.method} ${req.path.slice(req.path.lastIndexOf("/") + 1)}`);
    live = false; // the connection ends while the first attempt is out
    return Promise.resolve({ status: 503, text: '{"type":"no_leader"}' });
  }, undefined);
  const owner = { clientId: "c", principal: undefined };
  const filters = new SessionFilters(api, owner, () => live);
  const failed = await filters.save([new Set(), new Set(["a/b"]), new Set()]);
  assert.ok(failed?.startsWith("503"), failed);
  // Retried for 15 s before, each retry a chance to land after the client had taken its session
  // over elsewhere and changed its filters there (the late write would undo them).
  assert.deepEqual(sent, [`PUT ${sessionSubscription(owner, 1)}`]);
});
