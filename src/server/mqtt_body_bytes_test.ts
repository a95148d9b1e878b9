/**
 * The MQTT gateway's batch publishes with bodies handed over as their JSON bytes
 * (`JSON_BODY_BYTES`, src/mqtt/body_bytes.ts) against the same batches without them (the bodies
 * stringified, joined and encoded by the API, as before) and against the same batch's JSON text
 * from the network: the same answers (status and text), the same errors, and the same stored
 * bytes (a topic read splices each stored body's bytes into its answer as they are).
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { IPublishPacket } from "mqtt-packet";
import { createApp, JSON_BODY_BYTES } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { BrokerApi, messageBytesAtMost, messageOf, MQTT_TOPIC, SizedBody } from "../mqtt/mod.ts";
import { gatewayFetch } from "./mqtt_fetch.ts";

const TOPIC = `/v1/topics/${MQTT_TOPIC}`;
const encoder = new TextEncoder();
/** The nodes' body limit: a batch of long payloads passes it. */
const LIMIT = 2048;

/** A node with the MQTT topic (a still clock: equal answers to the byte), its gateway API. */
async function node() {
  const n = new LocalNode({ monoNowMs: () => 1_000, wallNowMs: () => 1_700_000_000_000 });
  const app = createApp({ node: n, log: silentLogger, limits: { maxBodyBytes: LIMIT } });
  const api = new BrokerApi(
    gatewayFetch({ fetch: app.fetch, inProcess: app.inProcess, gatewayAuth: undefined }),
    undefined,
  );
  assert.equal((await api.call("PUT", TOPIC, {})).status, 201);
  const read = async () => {
    const res = await app.fetch(new Request(`http://node${TOPIC}/messages?limit=1000`));
    return { status: res.status, text: await res.text() };
  };
  return { api, app, read };
}

/** Payloads near the edges: JSON (canonical or not), text with escapes, non-UTF-8, empty. */
const payload = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => encoder.encode(JSON.stringify(v))),
  },
  {
    weight: 3,
    arbitrary: fc.string({ maxLength: 40, unit: "grapheme" }).map((s) => encoder.encode(s)),
  },
  fc.jsonValue({ maxDepth: 1 }).map((v) => encoder.encode(JSON.stringify(v, null, 1))),
  fc.string({ maxLength: 40 }).map((s) => encoder.encode(s)),
  fc.string({ maxLength: 12, unit: "binary" }).map((s) => encoder.encode(s)),
  fc.constantFrom('a"b', "a\\b", "tab\there", "\u007f", "é", "😀", "", "x".repeat(700))
    .map((s) => encoder.encode(s)),
  fc.uint8Array({ maxLength: 24 }),
);

const packet = fc.record({
  payload,
  qos: fc.constantFrom(0, 1) as fc.Arbitrary<0 | 1>,
  // Mostly neither retain nor an expiry (the common case, the one whose bytes the API takes).
  retain: fc.integer({ min: 0, max: 12 }).map((r) => r === 0),
  topic: fc.constantFrom("a/b", "a/c/d", "x"),
  expiry: fc.integer({ min: -12, max: 100 }).map((e) => e > 0 && e % 13 === 0 ? e : null),
});

type Packet = typeof packet extends fc.Arbitrary<infer T> ? T : never;

/** A spoiled message now and then: the API must refuse it alike either way. */
const spoil = fc.constantFrom(...Array(10).fill(undefined), "subject", "header");

function messagesOf(ps: readonly Packet[], s: unknown) {
  return ps.map((p, k) => {
    const pub = {
      cmd: "publish",
      topic: p.topic,
      payload: p.payload,
      qos: p.qos,
      retain: p.retain,
      dup: false,
      messageId: 1,
      ...(p.expiry === null ? {} : { properties: { messageExpiryInterval: p.expiry } }),
    } as IPublishPacket;
    const m = messageOf(pub);
    if ("error" in m) throw new Error(m.error);
    if (k === 0 && s === "subject") m.message.subject = "a.*";
    if (k === 0 && s === "header") (m.message.headers as Record<string, unknown>)["x"] = 1;
    return { message: m.message, bytes: messageBytesAtMost(m.message, pub) };
  });
}

Deno.test("batches with bodies as JSON bytes publish, answer and store as without them", async () => {
  let taken = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(packet, { minLength: 1, maxLength: 4 }), spoil, async (ps, s) => {
      const ms = messagesOf(ps, s);
      const messages = ms.map((m) => m.message);
      const bound = 15 + ms.reduce((a, m) => a + m.bytes + 1, 0);
      // Whether the API takes the bytes: a plain batch (no retain, no expiry, nothing spoiled),
      // within the limit, every body with its bytes.
      const plain = s === undefined && bound <= LIMIT &&
        ps.every((p) => !p.retain && p.expiry === null) &&
        messages.every((m) => (m as Record<symbol, unknown>)[JSON_BODY_BYTES] !== undefined);
      if (plain) taken++;
      // The same messages without their bytes: what the gateway handed over before.
      const bare = JSON.parse(JSON.stringify({ messages }));
      const seen = [];
      for (const way of ["bytes", "bare", "text"]) {
        const { api, app, read } = await node();
        const path = `${TOPIC}/messages`;
        let a: { status: number; body: unknown };
        if (way === "text") {
          const res = await app.fetch(
            new Request(`http://node${path}`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify(bare),
            }),
          );
          a = { status: res.status, body: JSON.parse(await res.text()) };
        } else {
          const json = way === "bytes" ? { messages } : bare;
          a = await api.call("POST", path, new SizedBody(json, bound));
        }
        seen.push({ status: a.status, body: a.body, stored: await read() });
      }
      assert.deepEqual(seen[0], seen[1]);
      assert.deepEqual(seen[1], seen[2]);
    }),
    { numRuns: 500 },
  );
  // The generator must reach bodies handed over as bytes, or the property says nothing.
  // The generator must reach batches whose bytes are taken, or the property says nothing.
  assert.ok(taken > 100, `only ${taken} batches had their bytes taken`);
});
