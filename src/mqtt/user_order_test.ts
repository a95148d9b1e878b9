/**
 * MQTT 5 3.3.2.3.7: the server keeps the order of user properties when it forwards them, a
 * repeated name included. Before (session 15), names that look like integers went first (a JS
 * object's order, in `mqtt-packet`'s parse and in the message's headers), a repeated name's
 * values were grouped, and one after an empty value was lost.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt-packet";
import type { IConnectPacket, IPublishPacket, Packet } from "mqtt-packet";
import { Wire } from "./wire.ts";
import { messageTo } from "./publish_message.ts";
import { deliveryProperties } from "./properties.ts";
import { packetStream } from "./_testing_connection.ts";
import { keepUserOrder } from "./user_order.ts";
import { willMessage } from "./will.ts";

/** Bytes of a UTF-8 string with its 2-byte length. */
const str = (s: string) => {
  const b = Buffer.from(s, "utf8");
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};

/** A v5 QoS 0 PUBLISH of topic `t` with these user properties, encoded by hand. */
function rawPublish(pairs: [string, string][]): Buffer {
  const props = Buffer.concat(
    pairs.map(([k, v]) => Buffer.concat([Buffer.from([0x26]), str(k), str(v)])),
  );
  assert.ok(props.length < 128);
  const body = Buffer.concat([str("t"), Buffer.from([props.length]), props, Buffer.from("p")]);
  assert.ok(body.length < 128);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** The user properties of the v5 PUBLISH in `b`, in the order written (a QoS 0 one). */
function userPairsIn(b: Uint8Array): [string, string][] {
  let at = 1;
  while (b[at] & 0x80) at++;
  at++;
  at += 2 + ((b[at] << 8) | b[at + 1]);
  let len = 0;
  for (let mul = 1;; mul *= 128) {
    len += (b[at] & 0x7f) * mul;
    if ((b[at++] & 0x80) === 0) break;
  }
  const end = at + len;
  const out: [string, string][] = [];
  const read = () => {
    const n = (b[at] << 8) | b[at + 1];
    const s = Buffer.from(b.subarray(at + 2, at + 2 + n)).toString("utf8");
    at += 2 + n;
    return s;
  };
  while (at < end) {
    const id = b[at++];
    if (id === 0x26) out.push([read(), read()]);
    else assert.fail(`only user properties expected, got property ${id}`);
  }
  return out;
}

Deno.test("user properties are forwarded in the order they came, repeated names included", async () => {
  const pairs: [string, string][] = [
    ["b", "1"],
    ["42", "x"],
    ["a", "2"],
    ["1", "y"],
    ["b", "3"],
    ["a", ""],
    ["a", "w"],
  ];
  const written: Uint8Array[] = [];
  const stream = packetStream((b) => (written.push(b.slice()), Promise.resolve(b.length)));
  const wire = new Wire(stream, 1 << 20);
  wire.version = 5;
  const got: Packet[] = [];
  const connect = mqtt.generate({
    cmd: "connect",
    protocolVersion: 5,
    clientId: "o",
    clean: true,
    keepalive: 0,
  } as Packet, { protocolVersion: 5 });
  stream.give(connect, rawPublish(pairs));
  stream.end();
  await wire.read({
    packet: (p) => void got.push(p),
    read: () => {},
    error: (e) => assert.fail(e.detail),
  });
  const publish = got.find((p) => p.cmd === "publish") as IPublishPacket;
  // Through the broker: the message's headers as JSON text and back.
  const headers = JSON.parse(JSON.stringify(messageTo("t", publish).headers));
  const props = deliveryProperties(headers);
  assert.ok(props !== undefined);
  await wire.send({
    cmd: "publish",
    topic: "t",
    payload: Buffer.from("p"),
    qos: 0,
    dup: false,
    retain: false,
    properties: props.properties,
  });
  assert.deepEqual(userPairsIn(written.at(-1)!), pairs);
  // HTTP readers: each name's values joined, in one header.
  assert.deepEqual([headers.a, headers.b, headers["42"], headers["1"]], ["2,,w", "1,3", "x", "y"]);
});

/** `REPEATED_HEADER` of properties.ts. */
const LIST = "mqtt-user-repeated";

const withUser = (userProperties: Record<string, string | string[]>): IPublishPacket => ({
  cmd: "publish",
  topic: "t",
  payload: Buffer.from("p"),
  qos: 0,
  dup: false,
  retain: false,
  properties: { userProperties },
});

Deno.test("a list is kept only when the headers cannot give the properties back as they came", () => {
  const plain = messageTo("t", withUser({ a: "1", b: "2" })).headers as Record<string, string>;
  assert.equal(plain[LIST], undefined);
  // An object puts "1" before "2" whatever came first: the list keeps it.
  const numeric = messageTo("t", rawOrder([["2", "x"], ["1", "y"]])).headers as Record<
    string,
    string
  >;
  assert.deepEqual(JSON.parse(numeric[LIST]), [["2", "x"], ["1", "y"]]);
});

/** A PUBLISH as the wire's parser makes it, with its user properties in this order. */
function rawOrder(pairs: [string, string][]): IPublishPacket {
  const parser = mqtt.parser({ protocolVersion: 5 });
  keepUserOrder(parser);
  let got: IPublishPacket | undefined;
  parser.on("packet", (p) => got = p as IPublishPacket);
  parser.parse(rawPublish(pairs));
  assert.ok(got !== undefined);
  return got;
}

Deno.test("a list an HTTP publisher's headers no longer match is not used; the earlier form is read", () => {
  const changed = { a: "other", "1": "y", [LIST]: JSON.stringify([["a", "x"], ["1", "y"]]) };
  assert.deepEqual(deliveryProperties(changed)?.properties.userProperties, {
    "1": "y",
    a: "other",
  });
  const earlier = { a: "x,y,z", [LIST]: JSON.stringify({ a: ["x,y", "z"] }) };
  assert.deepEqual(deliveryProperties(earlier)?.properties.userProperties, { a: ["x,y", "z"] });
});

Deno.test("a will's user properties are published in the order they came", () => {
  const props = Buffer.concat([
    Buffer.from([0x26]),
    str("2"),
    str("x"),
    Buffer.from([0x26]),
    str("1"),
    str("y"),
  ]);
  const body = Buffer.concat([
    str("MQTT"),
    Buffer.from([5, 0x06, 0, 0, 0]), // level 5, will + clean start, keep-alive 0, no properties
    str("w"),
    Buffer.from([props.length]),
    props,
    str("gone/w"),
    str("bye"),
  ]);
  const parser = mqtt.parser({});
  keepUserOrder(parser);
  let got: IConnectPacket | undefined;
  parser.on("packet", (p) => got = p as IConnectPacket);
  parser.parse(Buffer.concat([Buffer.from([0x10, body.length]), body]));
  assert.ok(got?.will !== undefined);
  const m = willMessage(got.will, "id");
  assert.ok(typeof m !== "string");
  const headers = m.headers as Record<string, string>;
  assert.deepEqual(JSON.parse(headers[LIST]), [["2", "x"], ["1", "y"]]);
});
