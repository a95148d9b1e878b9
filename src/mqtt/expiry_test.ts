import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { expiryLeft, propertiesAt } from "./expiry.ts";

const h = { "mqtt-expiry": "10" };

Deno.test("expiryLeft: the received seconds less the time waited, rounded up; 0 once expired", () => {
  assertEquals(expiryLeft({}, 1_000, 5_000), undefined);
  assertEquals(expiryLeft(h, 1_000, 1_000), 10);
  assertEquals(expiryLeft(h, 1_000, 1_400), 10);
  assertEquals(expiryLeft(h, 1_000, 3_000), 8);
  assertEquals(expiryLeft(h, 1_000, 10_999), 1);
  assertEquals(expiryLeft(h, 1_000, 11_000), 0);
  assertEquals(expiryLeft(h, 1_000, 500), 10); // a node whose entry time is behind
});

Deno.test("propertiesAt: v5 gets the expiry left with the other properties; v3.1.1 none", () => {
  const headers = { ...h, "mqtt-content-type": "text/plain" };
  const v5 = propertiesAt(headers, 0, 2_500, true);
  assertEquals(v5 === "expired" ? v5 : v5?.properties, {
    contentType: "text/plain",
    messageExpiryInterval: 8,
  });
  assertEquals(propertiesAt(headers, 0, 2_500, false), undefined);
  assertEquals(propertiesAt(headers, 0, 10_000, false), "expired");
  assertEquals(propertiesAt({}, 0, 10_000, true), undefined);
});

Deno.test("expiryLeft reads the clock only for a message with an expiry", () => {
  let reads = 0;
  const now = () => (reads++, 3_000);
  assertEquals(expiryLeft({}, 1_000, now), undefined);
  assertEquals(reads, 0);
  assertEquals(expiryLeft(h, 1_000, now), 8);
  assertEquals(reads, 1);
});
