import assert from "node:assert/strict";
import { MqttAccess } from "./access.ts";
import { harness, publish, published, type Sent, settle } from "./_testing_inbound.ts";

Deno.test("the PUBLISHes of one read go as one batch, not the first alone", async () => {
  const { inbound, requests, acks } = harness();
  for (let id = 1; id <= 3; id++) inbound.publish(publish(id));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0].messages.map((m) => m.subject), ["t", "t", "t"]);
  requests[0].answer(201, published(3));
  await settle();
  assert.deepEqual(acks, [1, 2, 3]);
});

Deno.test("while a batch is being committed the next PUBLISHes gather into one batch", async () => {
  const { inbound, requests, acks } = harness();
  inbound.publish(publish(1));
  inbound.flush();
  await settle();
  inbound.publish(publish(2));
  inbound.flush();
  inbound.publish(publish(3));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 1, "one batch at a time");
  requests[0].answer(201, published(1));
  await settle();
  assert.equal(requests.length, 2);
  assert.equal(requests[1].messages.length, 2);
  assert.deepEqual(acks, [1]);
  requests[1].answer(201, published(2, 2));
  await settle();
  assert.deepEqual(acks, [1, 2, 3]);
});

Deno.test("after a batch's answers, what their read releases joins the queued PUBLISHes", async () => {
  // A Nagle client: PUBLISH 2 came alone while batch 1 was being committed, 3 and 4 were held
  // for 2's TCP ACK, which rides on batch 1's PUBACK; they arrive in the read right after it.
  const { inbound, requests, acks } = harness();
  inbound.publish(publish(1));
  inbound.flush();
  await settle();
  inbound.publish(publish(2));
  inbound.flush();
  requests[0].answer(201, published(1));
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.deepEqual(acks, [1]);
  inbound.publish(publish(3));
  inbound.publish(publish(4));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 2);
  assert.deepEqual(requests[1].messages.length, 3, "2 waited for the read its PUBACK released");
  requests[1].answer(201, published(3, 2));
  await settle();
  assert.deepEqual(acks, [1, 2, 3, 4]);
});

Deno.test("after a batch's answers, queued PUBLISHes go after one timer turn if no read comes", async () => {
  const { inbound, requests, acks } = harness();
  inbound.publish(publish(1));
  inbound.flush();
  await settle();
  inbound.publish(publish(2));
  inbound.flush();
  requests[0].answer(201, published(1));
  for (let i = 0; i < 10 && requests.length < 2; i++) await settle();
  assert.equal(requests.length, 2);
  assert.deepEqual(requests[1].messages.length, 1);
  requests[1].answer(201, published(1, 2));
  await settle();
  assert.deepEqual(acks, [1, 2]);
});

Deno.test("with nothing queued, a batch's last answer waits for the next read", async () => {
  // A Nagle client: PUBACK 1 makes it send PUBLISH 3 at once and hold 4 for 3's TCP ACK, which
  // rides on PUBACK 2; 3 and 4 then go in one batch.
  const { inbound, requests, acks } = harness();
  inbound.publish(publish(1));
  inbound.publish(publish(2));
  inbound.flush();
  await settle();
  requests[0].answer(201, published(2));
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.deepEqual(acks, [1], "the last answer waits");
  inbound.publish(publish(3));
  inbound.flush();
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.deepEqual(acks, [1, 2], "sent once the next read came");
  inbound.publish(publish(4));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 2);
  assert.equal(requests[1].messages.length, 2, "3 waited for the read PUBACK 2 released");
  requests[1].answer(201, published(2, 3));
  // The client answered batch 1's first answer, so this wait lasts as long as batch 2 took to
  // commit (at most REFILL_WAIT_MAX_MS): real time, longer than a few timer turns on a loaded
  // machine (CI failed so at load ~20 with two turns).
  for (let i = 0; i < 200 && acks.length < 4; i++) await settle();
  assert.deepEqual(acks, [1, 2, 3, 4], "without a read, once the wait's bound passed");
});

Deno.test("a batch's last answers go one per read until the client has sent as many", async () => {
  // A Nagle client with more in flight than one batch, which hands its PUBLISHes to the socket
  // one by one (MQTT.js on Deno): 4 came while batch 1-3 was being committed. PUBACK 1 makes it
  // send 5 at once and hold the next ones for 5's TCP ACK, which rides on PUBACK 2; that releases
  // 6 (written by then), and PUBACK 3 releases 7. 4-7 then go in one batch, not 4-6 with 7 a
  // whole commit behind them (batches went 63, 1 or 2, 63, ... per 64-message window).
  const { inbound, requests, acks } = harness();
  for (let id = 1; id <= 3; id++) inbound.publish(publish(id));
  inbound.flush();
  await settle();
  inbound.publish(publish(4));
  inbound.flush();
  requests[0].answer(201, published(3));
  const ticks = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  await ticks();
  assert.deepEqual(acks, [1], "the last answers wait");
  inbound.publish(publish(5));
  inbound.flush();
  await ticks();
  assert.deepEqual(acks, [1, 2], "one more per read");
  inbound.publish(publish(6));
  inbound.flush();
  await ticks();
  assert.deepEqual(acks, [1, 2, 3]);
  inbound.publish(publish(7));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 2);
  assert.deepEqual(requests[1].messages.length, 4, "4 waited for what the held PUBACKs released");
  requests[1].answer(201, published(4, 4));
  // 5-7 are batch 2's last answers: with no read to come they go once the refill wait's bound
  // (batch 2's commit time, real time) passes, which on a loaded machine is more than two timer
  // turns (CI failed so at load ~20).
  for (let i = 0; i < 200 && acks.length < 7; i++) await settle();
  assert.deepEqual(acks, [1, 2, 3, 4, 5, 6, 7]);
});

Deno.test("after the held answers, the wait goes on until the client has sent as many", async () => {
  const { inbound, requests, acks } = harness();
  for (let id = 1; id <= 6; id++) inbound.publish(publish(id));
  inbound.flush();
  await settle();
  requests[0].answer(201, published(6));
  const ticks = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  await ticks();
  assert.deepEqual(acks, [1, 2, 3, 4], "two answers held");
  for (let id = 7; id <= 11; id++) {
    inbound.publish(publish(id));
    inbound.flush();
    await ticks();
  }
  assert.deepEqual(acks, [1, 2, 3, 4, 5, 6], "one held answer per read");
  assert.equal(requests.length, 1, "5 of the 6 the answers allow: still waiting");
  inbound.publish(publish(12));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 2);
  assert.equal(requests[1].messages.length, 6);
});

Deno.test("a client that kept its window full is not taken for a burst client when late once", async () => {
  const { inbound, requests, acks } = harness();
  const ticks = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  // Batch 1-2: the client answers PUBACK 1 at once with 3 and 4 (it refills its window).
  inbound.publish(publish(1));
  inbound.publish(publish(2));
  inbound.flush();
  await settle();
  requests[0].answer(201, published(2));
  await ticks();
  inbound.publish(publish(3));
  inbound.flush();
  await ticks();
  inbound.publish(publish(4));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 2);
  // Batch 3-4: this time nothing comes after its first answer (the client is late).
  requests[1].answer(201, published(2, 3));
  for (let i = 0; i < 500 && acks.length < 4; i++) await settle();
  assert.deepEqual(acks, [1, 2, 3, 4], "after the wait, the held answer goes");
  // Batch 5-6: its last answer is still held for the next read, not sent at once.
  inbound.publish(publish(5));
  inbound.publish(publish(6));
  inbound.flush();
  await settle();
  requests[2].answer(201, published(2, 5));
  await ticks();
  assert.deepEqual(acks, [1, 2, 3, 4, 5], "the last answer waits for a read");
});

Deno.test("once the client has sent as many packets as it got answers, the rest go at once", async () => {
  const { inbound, requests, acks } = harness();
  for (let id = 1; id <= 4; id++) inbound.publish(publish(id));
  inbound.flush();
  await settle();
  requests[0].answer(201, published(4));
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.deepEqual(acks, [1, 2], "the last two answers wait");
  for (let id = 5; id <= 8; id++) inbound.publish(publish(id));
  inbound.flush();
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.deepEqual(acks, [1, 2, 3, 4], "a read brought all it could send: no more waits");
  await settle();
  assert.equal(requests.length, 2);
  assert.equal(requests[1].messages.length, 4);
});

Deno.test("after a last answer waited for a read in vain, the next ones go at once", async () => {
  // A client that sends a burst and waits for all of it: the wait only delays its last PUBACK.
  const { inbound, requests, acks } = harness();
  inbound.publish(publish(1));
  inbound.publish(publish(2));
  inbound.flush();
  await settle();
  requests[0].answer(201, published(2));
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.deepEqual(acks, [1], "the last answer waits");
  await settle();
  assert.deepEqual(acks, [1, 2], "no read came: after one timer turn");
  inbound.publish(publish(3));
  inbound.publish(publish(4));
  inbound.flush();
  await settle();
  requests[1].answer(201, published(2, 3));
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.deepEqual(acks, [1, 2, 3, 4], "the next batch's last answer goes at once");
});

Deno.test("a refused batch closes the connection and nothing after it is sent", async () => {
  const { inbound, requests, acks, failures } = harness();
  inbound.publish(publish(1));
  inbound.flush();
  await settle();
  inbound.publish(publish(2));
  inbound.flush();
  requests[0].answer(413, { type: "payload_too_large", detail: "too big" });
  await settle();
  assert.deepEqual(acks, []);
  assert.equal(failures.length, 1);
  assert.equal(requests.length, 1, "nothing more is sent");
});

Deno.test("a PUBLISH to a topic the token may not publish to is answered in its place", async () => {
  // May publish to any MQTT topic but `secret` (not to the whole MQTT topic).
  const access = new MqttAccess({
    name: "p",
    can: (_permission, kind, name) => kind === "mqtt" && name !== "secret",
    covers: () => true,
  });
  const { inbound, requests, acks, reasons } = harness(access, 5);
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

/** A text payload of `bytes` bytes that starts with `id` (and is not JSON). */
function sized(id: number, bytes: number): string {
  return `m${id} `.padEnd(bytes, "x");
}

/**
 * Answers each batch publish as it comes (all published), up to `most` requests; the requests'
 * message counts.
 */
async function answerAll(requests: Sent[], most: number): Promise<number[]> {
  let seq = 1;
  for (let i = 0; i < requests.length && i < most; i++) {
    const n = requests[i].messages.length;
    requests[i].answer(201, published(n, seq));
    seq += n;
    await settle();
  }
  return requests.map((r) => r.messages.length);
}

Deno.test("PUBLISHes whose one batch would pass the body limit go as several in a row, each within it", async () => {
  // Ten 1,000-byte PUBLISHes in one read, a 4 KiB body limit: each within it, not all together.
  const { inbound, requests, acks, failures } = harness(MqttAccess.OPEN, 5, 4096);
  for (let id = 1; id <= 10; id++) inbound.publish(publish(id, "t", sized(id, 1000)));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 1, "one batch at a time");
  const counts = await answerAll(requests, 20);
  assert.deepEqual(failures, []);
  assert.ok(counts.length > 1, `several batches: ${counts}`);
  for (const r of requests) assert.ok(r.bytes <= 4096, `${r.bytes} bytes`);
  const bodies = requests.flatMap((r) => r.messages.map((m) => m.body));
  assert.deepEqual(bodies, Array.from({ length: 10 }, (_, i) => sized(i + 1, 1000)));
  assert.deepEqual(acks, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

Deno.test("small PUBLISHes past the batch's bound but within the body limit stay one batch", async () => {
  // The bound counts a string's code unit as up to 6 bytes: 100 messages of 100 bytes are
  // bounded past 64 KiB but are ~15 KB of JSON.
  const { inbound, requests, acks } = harness(MqttAccess.OPEN, 4, 65536);
  for (let id = 1; id <= 100; id++) inbound.publish(publish(id, "t", sized(id, 100)));
  inbound.flush();
  await settle();
  assert.ok(requests[0].req.value!.bytesAtMost <= 65536, "handed over within the limit");
  assert.deepEqual(await answerAll(requests, 5), [100]);
  assert.equal(acks.length, 100);
});

Deno.test("a PUBLISH alone beyond the body limit is refused after those before it are answered", async () => {
  const access = new MqttAccess({
    name: "p",
    can: (_permission, kind, name) => kind === "mqtt" && name !== "secret",
    covers: () => true,
  });
  const { inbound, requests, acks, reasons, failures, failReasons } = harness(access, 5, 4096);
  inbound.publish(publish(1, "t", sized(1, 1000)));
  inbound.publish(publish(2, "secret"));
  inbound.publish(publish(3, "t", sized(3, 5000)));
  inbound.publish(publish(4));
  inbound.flush();
  await settle();
  assert.equal(requests.length, 1);
  assert.equal(requests[0].messages.length, 1, "the first alone: the next one passes the limit");
  requests[0].answer(201, published(1));
  await settle();
  assert.deepEqual(acks, [1, 2], "the refused topic's answer in its place");
  assert.deepEqual(reasons, [0, 0x87]);
  assert.equal(requests.length, 2);
  assert.deepEqual(requests[1].messages.map((m) => m.body), [sized(3, 5000)]);
  // The API's answer to a body beyond its limit.
  requests[1].answer(413, { type: "payload_too_large", detail: "too big" });
  await settle();
  assert.deepEqual(failReasons, [0x95]);
  assert.equal(failures.length, 1);
  assert.equal(requests.length, 2, "nothing after it is sent");
  assert.deepEqual(acks, [1, 2]);
});

Deno.test("a batch answered in the API's own form is acknowledged in order, each published", async () => {
  const { inbound, requests, acks, reasons } = harness(MqttAccess.OPEN, 5);
  for (let id = 1; id <= 3; id++) inbound.publish(publish(id));
  inbound.flush();
  await settle();
  // As src/http/render.ts renders it: read by the scan (`readApiAnswer`), not JSON.parse.
  requests[0].answer(201, {
    results: [1, 2, 3].map((seq) => ({ seq, id: `mqtt-${seq}`, duplicate: seq === 2 })),
  });
  await settle();
  assert.deepEqual(acks, [1, 2, 3]);
  assert.deepEqual(reasons, [0, 0, 0]);
});

Deno.test("a result with an error is answered with its reason, its neighbours as published", async () => {
  const { inbound, requests, acks, reasons } = harness(MqttAccess.OPEN, 5);
  for (let id = 1; id <= 4; id++) inbound.publish(publish(id));
  inbound.flush();
  await settle();
  requests[0].answer(201, {
    results: [
      { seq: 1, id: "mqtt-1", duplicate: false },
      { error: { type: "retained_full", detail: "" } },
      { error: { type: "invalid_request", detail: "" } },
      { seq: 2, id: "mqtt-2", duplicate: false },
    ],
  });
  await settle();
  assert.deepEqual(acks, [1, 2, 3, 4]);
  assert.deepEqual(reasons, [0, 0x97, 0x80, 0]);
});
