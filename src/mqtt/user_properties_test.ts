/**
 * MQTT 5 user properties through the broker: a name may come more than once, and the server
 * "MUST send all User Properties unaltered" (3.3.2-17). Its header holds the values joined with
 * `,` (for HTTP readers); before, that header was all a v5 subscriber got back, one property
 * "x,y,z" for the three properties "x,y" and "z" (or "x", "y" and "z": it could not tell).
 *
 * @module
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { IPublishPacket } from "mqtt-packet";
import { deliveryProperties } from "./properties.ts";
import { messageTo } from "./publish_message.ts";

function publish(userProperties: Record<string, string | string[]>): IPublishPacket {
  return {
    cmd: "publish",
    topic: "t",
    payload: Buffer.from("p"),
    qos: 1,
    dup: false,
    retain: false,
    messageId: 1,
    properties: { userProperties },
  };
}

/** `REPEATED_HEADER` of properties.ts. */
const REPEATED_HEADER = "mqtt-user-repeated";

const headersOf = (p: IPublishPacket) => messageTo("t", p).headers as Record<string, string>;

Deno.test("a repeated user property comes back as its values, each unaltered", () => {
  const headers = headersOf(publish({ a: ["x,y", "z"], b: "1", c: ["", "w"] }));
  assertEquals([headers.a, headers.b, headers.c], ["x,y,z", "1", ",w"]); // HTTP readers: joined
  assertEquals(deliveryProperties(headers)?.properties.userProperties, {
    a: ["x,y", "z"],
    b: "1",
    c: ["", "w"],
  });
});

Deno.test("properties without a repeated name carry no list", () => {
  const headers = headersOf(publish({ a: "x,y", b: "1" }));
  assertEquals(headers[REPEATED_HEADER], undefined);
  assertEquals(deliveryProperties(headers)?.properties.userProperties, { a: "x,y", b: "1" });
});

Deno.test("a list that no longer matches its header (an HTTP publisher's) is not used", () => {
  const headers = { a: "other", [REPEATED_HEADER]: JSON.stringify({ a: ["x", "y"] }) };
  assertEquals(deliveryProperties(headers)?.properties.userProperties, { a: "other" });
  const bad = { a: "x", [REPEATED_HEADER]: "not json" };
  assertEquals(deliveryProperties(bad)?.properties.userProperties, { a: "x" });
  // Never taken from a publisher's user property, never sent as one.
  const spoofed = headersOf(publish({ [REPEATED_HEADER]: "{}" }));
  assertEquals(spoofed[REPEATED_HEADER], undefined);
});

Deno.test("a list past the header bound is left out: the joined values go", () => {
  const long = "v".repeat(3_000);
  const headers = headersOf(publish({ a: [long, long, long] }));
  assertEquals(headers[REPEATED_HEADER], undefined);
  assertEquals(deliveryProperties(headers)?.properties.userProperties, {
    a: [long, long, long].join(","),
  });
});
