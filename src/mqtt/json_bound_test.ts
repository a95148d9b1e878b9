import assert from "node:assert/strict";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import type { IPublishPacket } from "mqtt-packet";
import { jsonBytesAtMost } from "./json_bound.ts";
import { messageBytesAtMost, messageOf } from "./publish_message.ts";

const bytesOf = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).length;

Deno.test("json bound: never below the UTF-8 bytes of the value's JSON text", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => bytesOf(v) <= jsonBytesAtMost(v)),
    { numRuns: 2000 },
  );
  const strings = fc.string({ unit: "binary", maxLength: 64 });
  fc.assert(
    fc.property(fc.dictionary(strings, strings), (v) => bytesOf(v) <= jsonBytesAtMost(v)),
    { numRuns: 2000 },
  );
  for (const v of ['\u0000\u001f"\\', "\ud800", "\ud83d\ude00", "é€", -1.2345678901234567e-308]) {
    assert.ok(bytesOf(v) <= jsonBytesAtMost(v), JSON.stringify(v));
  }
});

Deno.test("json bound: a PUBLISH's message, whatever its payload (JSON, text, bytes), user properties and QoS", () => {
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v) ?? "null")),
    fc.string({ unit: "binary", maxLength: 100 }).map((s) => new TextEncoder().encode(s)),
  );
  const props = fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ unit: "binary" }));
  fc.assert(
    fc.property(
      payload,
      props,
      fc.constantFrom(0, 1, 2),
      fc.boolean(),
      (bytes, user, qos, retain) => {
        const p = {
          cmd: "publish",
          topic: "a/b/ü",
          payload: Buffer.from(bytes),
          qos,
          dup: false,
          retain,
          messageId: 1,
          properties: { userProperties: user, messageExpiryInterval: 60 },
        } as IPublishPacket;
        const m = messageOf(p);
        assert.ok("message" in m);
        if (qos === 2) m.message.once = { claim: "mqtt-0123456789abcdef", slot: 65535 };
        return bytesOf(m.message) <= messageBytesAtMost(m.message, p);
      },
    ),
    { numRuns: 2000 },
  );
});
