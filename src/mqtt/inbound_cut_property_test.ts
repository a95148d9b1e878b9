/**
 * The MQTT gateway's batch publishes under the API's body limit (`--max-body-bytes`), for any
 * run of PUBLISHes: payloads of any size and kind (ASCII, UTF-8 led by U+FEFF, JSON, bytes
 * that are not UTF-8), topics the token may or may not publish to, QoS 0, 1 and 2, and any
 * limit. The fake API answers as the real one does (413 past the limit, else every message
 * published). Each request is within the limit unless it holds one message; every message
 * allowed is sent once, in order, with its payload; every QoS 1/2 PUBLISH is answered once, in
 * order; and a refused message (one alone past the limit) ends the connection after the answers
 * of those before it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { IPublishPacket, Packet } from "mqtt-packet";
import fc from "fast-check";
import { MqttAccess } from "./access.ts";
import { type ApiRequest, BrokerApi } from "./broker_api.ts";
import { Inbound } from "./inbound.ts";
import { decodePayload } from "./payload.ts";

const encoder = new TextEncoder();

interface Case {
  readonly limit: number;
  readonly publishes: { topic: string; qos: 0 | 1 | 2; payload: Uint8Array }[];
}

const payload = fc.oneof(
  fc.nat({ max: 3000 }).map((n) => encoder.encode("p".repeat(n))),
  fc.string({ unit: "binary", maxLength: 300 }).map((s) => encoder.encode("\uFEFF" + s)),
  fc.jsonValue({ maxDepth: 2 }).map((v) => encoder.encode(JSON.stringify(v) ?? "null")),
  fc.uint8Array({ maxLength: 600 }),
);

const caseArb: fc.Arbitrary<Case> = fc.record({
  limit: fc.integer({ min: 64, max: 8192 }),
  publishes: fc.array(
    fc.record({
      topic: fc.constantFrom("a", "b/c", "secret"),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      payload,
    }),
    { minLength: 1, maxLength: 30 },
  ),
});

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}

/** A batch publish as the fake API got it. */
type Sent = { messages: { body: unknown; headers: Record<string, string> }[] };

/** An API that takes batches within `c.limit` into `sent` and refuses a larger one (413). */
function fakeApi(c: Case, sent: Sent[]): BrokerApi {
  let seq = 1;
  return new BrokerApi((req: ApiRequest) => {
    const text = req.value !== undefined ? JSON.stringify(req.value.json) : req.text ?? "";
    const bytes = encoder.encode(text).length;
    if (req.value !== undefined) assert.ok(bytes <= req.value.bytesAtMost, "bound under the text");
    const body = JSON.parse(text);
    if (bytes > c.limit) {
      assert.equal(body.messages.length, 1, `a request of ${bytes} bytes past ${c.limit}`);
      return Promise.resolve({
        status: 413,
        text: JSON.stringify({ type: "payload_too_large", detail: "too large" }),
      });
    }
    sent.push(body);
    const results = body.messages.map(() => ({ seq: seq++ }));
    return Promise.resolve({ status: 201, text: JSON.stringify({ results }) });
  }, undefined);
}

async function runCase(c: Case): Promise<void> {
  const sent: Sent[] = [];
  const answers: number[] = [];
  const fails: number[] = [];
  const api = fakeApi(c, sent);
  const access = new MqttAccess({
    name: "p",
    can: (_permission, kind, name) => kind === "mqtt" && name !== "secret",
    covers: () => true,
  });
  const inbound = new Inbound({
    api,
    access,
    clientId: "c",
    owner: { clientId: "c", principal: undefined },
    version: 5,
    maxBodyBytes: c.limit,
    send: (p: Packet) => {
      if (p.cmd === "puback" || p.cmd === "pubrec") answers.push(p.messageId!);
    },
    ack: (cmd, messageId) => {
      if (cmd === "puback" || cmd === "pubrec") answers.push(messageId);
    },
    log: () => {},
    fail: (reason) => fails.push(reason),
  });
  const packets: IPublishPacket[] = c.publishes.map((p, k) => ({
    cmd: "publish",
    topic: p.topic,
    payload: Buffer.from(p.payload),
    qos: p.qos,
    dup: false,
    retain: false,
    ...(p.qos > 0 ? { messageId: k + 1 } : {}),
  }));
  for (const p of packets) inbound.publish(p);
  inbound.flush();
  const acked = packets.filter((p) => p.qos > 0).map((p) => p.messageId!);
  const allowedCount = c.publishes.filter((p) => p.topic !== "secret").length;
  // Until every answer is out or the connection failed, bounded in turns. Each turn is also a
  // read (`flush`): a held answer waits for one (or for a timer), never for the clock here.
  for (let i = 0; i < 50 * (packets.length + 2); i++) {
    const done = answers.length === acked.length &&
      sent.reduce((n, r) => n + r.messages.length, 0) === allowedCount;
    if (fails.length > 0 || done) break;
    inbound.flush();
    await settle();
  }
  for (let i = 0; i < 3; i++) await settle();

  const got = sent.flatMap((r) => r.messages);
  const allowed = c.publishes.filter((p) => p.topic !== "secret");
  assert.ok(got.length <= allowed.length);
  for (let k = 0; k < got.length; k++) {
    const m = got[k];
    const back = decodePayload(m.body, m.headers["mqtt-payload"]);
    assert.deepEqual(new Uint8Array(back), allowed[k].payload, `message ${k}`);
  }
  if (fails.length === 0) {
    assert.equal(got.length, allowed.length, "every allowed message sent");
    assert.deepEqual(answers, acked, "every QoS 1/2 PUBLISH answered once, in order");
  } else {
    assert.deepEqual(fails, [0x95], "refused for its size only");
    assert.ok(got.length < allowed.length);
    assert.deepEqual(answers, acked.slice(0, answers.length), "answers a prefix, in order");
  }
}

Deno.test("MQTT batches under the body limit: each within it, every message once, in order (property)", async () => {
  await fc.assert(fc.asyncProperty(caseArb, runCase), { numRuns: 150 });
});
