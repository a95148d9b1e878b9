import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { Inflight } from "./inflight.ts";

Deno.test("renew: a QoS 1 delivery awaiting PUBACK takes the new receipt of its message", () => {
  const f = new Inflight();
  f.set(1, { path: "/a", receipt: "r1", qos: 1, seq: 7, released: false });
  f.set(2, { path: "/b", receipt: "r2", qos: 1, seq: 7, released: false });
  f.set(3, { path: "", receipt: "", qos: 1, seq: 8, released: false, local: true });
  f.set(4, { path: "/a", receipt: "r4", qos: 2, seq: 9, released: false });
  assertEquals(f.renew("/a", 7, "r1b"), true);
  assertEquals([f.get(1)?.receipt, f.get(2)?.receipt], ["r1b", "r2"]);
  assertEquals(f.renew("/a", 8, "x"), false); // another message
  assertEquals(f.renew("", 8, "x"), false); // a retained one sent at SUBSCRIBE has no receipt
  assertEquals(f.renew("/a", 9, "x"), false); // QoS 2 keeps its own id (`exactlyOnceId`)
  assertEquals(f.size, 4);
});
