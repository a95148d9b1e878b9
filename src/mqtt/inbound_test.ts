import assert from "node:assert/strict";
import type { IPublishPacket, Packet } from "mqtt-packet";
import { MqttAccess } from "./access.ts";
import { type ApiRequest, BrokerApi } from "./broker_api.ts";
import { Inbound } from "./inbound.ts";

/** One request the inbound half sent, answered when the test says so. */
interface Sent {
  readonly req: ApiRequest;
  readonly messages: { headers: Record<string, string>; subject: string }[];
  answer(status: number, body?: unknown): void;
}

/**
 * An inbound half over a fake API: every request is recorded and waits for the test's answer.
 * `leading`: the fake node leads, so a publish is proposed (the `Pipelined` hook is called) as
 * soon as it arrives; otherwise never (a follower forwards it).
 */
function harness(leading: boolean, access = MqttAccess.OPEN, version = 4) {
  const requests: Sent[] = [];
  const acks: number[] = [];
  const reasons: number[] = [];
  const failures: string[] = [];
  const api = new BrokerApi((req) => {
    const { promise, resolve } = Promise.withResolvers<{ status: number; text: string }>();
    const body = req.text === undefined ? undefined : JSON.parse(req.text);
    requests.push({
      req,
      messages: body?.messages ?? [],
      answer: (status, b) => resolve({ status, text: b === undefined ? "" : JSON.stringify(b) }),
    });
    if (leading) req.pipelined?.proposed?.();
    return promise;
  }, undefined);
  const inbound = new Inbound({
    api,
    access,
    clientId: "c",
    owner: { clientId: "c", principal: undefined },
    version,
    send: (p: Packet) => {
      if (p.cmd !== "puback") return;
      acks.push(p.messageId!);
      reasons.push(p.reasonCode ?? 0);
    },
    log: () => {},
    fail: (_reason, detail) => failures.push(detail),
  });
  return { inbound, requests, acks, failures, reasons };
}

function publish(id: number, topic = "t"): IPublishPacket {
  return {
    cmd: "publish",
    topic,
    payload: `m${id}`,
    qos: 1,
    dup: false,
    retain: false,
    messageId: id,
  };
}

/** The API's answer to a batch publish of `n` messages, all published. */
function published(n: number, first = 1) {
  return { results: Array.from({ length: n }, (_, i) => ({ seq: first + i })) };
}

/** Lets the fake's answers and the inbound half's follow-ups run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}

Deno.test("the PUBLISHes of one read go as one batch, not the first alone", async () => {
  const { inbound, requests, acks } = harness(true);
  for (let id = 1; id <= 3; id++) inbound.publish(publish(id));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0].messages.map((m) => m.subject), ["t", "t", "t"]);
  requests[0].answer(201, published(3));
  await settle();
  assert.deepEqual(acks, [1, 2, 3]);
});

Deno.test("on the leader a batch goes behind one in flight; PUBACKs keep the PUBLISH order", async () => {
  const { inbound, requests, acks } = harness(true);
  inbound.publish(publish(1));
  inbound.publish(publish(2));
  inbound.flush();
  await settle();
  inbound.publish(publish(3));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 2, "the second batch is sent while the first is in flight");
  assert.equal(requests[0].req.pipelined?.localOnly, undefined);
  assert.equal(requests[1].req.pipelined?.localOnly, true, "behind another: local only");
  requests[1].answer(201, published(1, 3));
  await settle();
  assert.deepEqual(acks, [], "no PUBACK for 3 before 1 and 2");
  requests[0].answer(201, published(2));
  await settle();
  assert.deepEqual(acks, [1, 2, 3]);
});

Deno.test("not proposed here (a follower forwards): one batch at a time", async () => {
  const { inbound, requests, acks } = harness(false);
  inbound.publish(publish(1));
  inbound.flush();
  await settle();
  inbound.publish(publish(2));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 1, "nothing behind a batch not known to be in the log");
  requests[0].answer(201, published(1));
  await settle();
  assert.equal(requests.length, 2);
  assert.equal(requests[1].req.pipelined?.localOnly, undefined);
  requests[1].answer(201, published(1, 2));
  await settle();
  assert.deepEqual(acks, [1, 2]);
});

Deno.test("a batch refused behind another is sent again, the usual way, after it", async () => {
  const { inbound, requests, acks, failures } = harness(true);
  inbound.publish(publish(1));
  inbound.flush();
  await settle();
  inbound.publish(publish(2));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 2);
  // The node stopped leading: the local-only batch is refused at once, never forwarded.
  requests[1].answer(421, { type: "not_leader", detail: "not leading" });
  await settle();
  assert.equal(requests.length, 2, "not sent again before the batch ahead of it is answered");
  requests[0].answer(201, published(1));
  await settle();
  assert.equal(requests.length, 3, "sent again");
  assert.equal(requests[2].req.pipelined?.localOnly, undefined);
  assert.deepEqual(requests[2].messages, requests[1].messages);
  assert.deepEqual(acks, [1]);
  requests[2].answer(201, published(1, 2));
  await settle();
  assert.deepEqual(acks, [1, 2]);
  assert.deepEqual(failures, []);
});

Deno.test("a refused batch closes the connection and nothing behind it is acknowledged", async () => {
  const { inbound, requests, acks, failures } = harness(true);
  inbound.publish(publish(1));
  inbound.flush();
  await settle();
  inbound.publish(publish(2));
  inbound.flush();
  await settle();
  requests[1].answer(201, published(1, 2));
  requests[0].answer(413, { type: "payload_too_large", detail: "too big" });
  await settle();
  assert.deepEqual(acks, []);
  assert.equal(failures.length, 1);
  inbound.publish(publish(3));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 2, "nothing more is sent");
});

Deno.test("a PUBLISH to a topic the token may not publish to is answered in its place", async () => {
  // May publish to any MQTT topic but `secret` (not to the whole MQTT topic).
  const access = new MqttAccess({
    name: "p",
    can: (_permission, kind, name) => kind === "mqtt" && name !== "secret",
    covers: () => true,
  });
  const { inbound, requests, acks, reasons } = harness(true, access, 5);
  inbound.publish(publish(1));
  inbound.publish(publish(2, "secret"));
  inbound.publish(publish(3));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 1);
  assert.equal(requests[0].messages.length, 2, "the refused one is not sent");
  assert.deepEqual(acks, [], "not even the refused one's PUBACK before those ahead of it");
  requests[0].answer(201, published(2));
  await settle();
  assert.deepEqual(acks, [1, 2, 3]);
  assert.deepEqual(reasons, [0, 0x87, 0]);
});
