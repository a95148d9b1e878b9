/**
 * SIGTERM with real processes: what callers wait on is answered at once, so the node stops in
 * seconds, well inside any grace period: a 30 s long poll gets 503 + Retry-After (on a follower
 * that forwarded it, and on the leader), an open stream gets its in-flight poll answered 503 and
 * closes with 1001 "node shutting down", an MQTT 5 client gets DISCONNECT 0x8B (a 3.1.1 one is
 * closed). The process exits 0 by itself (the harness would SIGKILL it after 15 s and say so).
 * Stop times are printed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { unpack } from "msgpackr";
import type { IDisconnectPacket } from "mqtt-packet";
import { encodeStreamFrame } from "../../src/http/mod.ts";
import { connect, mqttNodes } from "./mqtt_client.ts";
import type { Nodes } from "./nodes.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function longPoll(base: string) {
  return fetch(`${base}/v1/queues/q/receive`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ waitMs: 30_000 }),
  }).then(async (res) => ({
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    body: await res.json(),
  }));
}

/** A stream with one 30 s long poll in flight; resolves with its answer and how it closed. */
async function streamPoll(base: string) {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/v1/stream`);
  ws.binaryType = "arraybuffer";
  // deno-lint-ignore no-explicit-any
  const frames: any[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
  });
  const hello = Promise.withResolvers<void>();
  ws.onmessage = (e) => {
    const frame = unpack(new Uint8Array(e.data as ArrayBuffer).subarray(1));
    frames.push(frame);
    if (frame.t === "hello") hello.resolve();
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  ws.send(encodeStreamFrame({ t: "hello" }));
  await hello.promise;
  ws.send(encodeStreamFrame({
    t: "req",
    i: 1,
    m: "POST",
    p: "/v1/queues/q/receive",
    b: { waitMs: 30_000 },
  }));
  return { frames, closed };
}

async function stopTimed(nodes: Nodes, id: string) {
  const started = performance.now();
  const r = await nodes.signal(id, "SIGTERM");
  const ms = Math.round(performance.now() - started);
  assert.ok(r !== undefined);
  assert.equal(r.timedOut, false, `${id} had to be killed`);
  assert.equal(r.status.code, 0, `${id} exit code`);
  return ms;
}

Deno.test("e2e SIGTERM: long polls, streams and MQTT are answered at once and the node exits 0", async () => {
  const { nodes, mqttPort } = await mqttNodes({ count: 3, storage: "memory" });
  try {
    const leader = await nodes.waitLeader();
    const follower = nodes.ids.find((id) => id !== leader)!;
    const put = await fetch(`${nodes.url(leader)}/v1/queues/q`, { method: "PUT" });
    assert.equal(put.status, 201);
    await put.body?.cancel();

    // On a follower: a forwarded HTTP long poll, a stream long poll, an MQTT 5 client.
    const poll = longPoll(nodes.url(follower));
    const stream = await streamPoll(nodes.url(follower));
    const mqtt = await connect(mqttPort(follower), { protocolVersion: 5 });
    const disconnect = new Promise<IDisconnectPacket>((resolve) => mqtt.on("disconnect", resolve));
    // MQTT 3.1.1 has no server DISCONNECT: its connection just closes.
    const mqtt3 = await connect(mqttPort(follower), { protocolVersion: 4 });
    const closed3 = new Promise<void>((resolve) => mqtt3.on("close", () => resolve()));
    await sleep(300); // let the polls reach their waits (they are answered 503 either way)
    const followerMs = await stopTimed(nodes, follower);

    const answer = await poll;
    assert.equal(answer.status, 503, JSON.stringify(answer.body));
    assert.equal(answer.body.type, "unavailable");
    assert.match(answer.body.detail, /shutting down/);
    assert.equal(answer.retryAfter, "1");

    const closed = await stream.closed;
    assert.equal(closed.code, 1001);
    assert.equal(closed.reason, "node shutting down");
    const res = stream.frames.find((f) => f.t === "res" && f.i === 1);
    assert.equal(res?.s, 503, JSON.stringify(stream.frames));
    const error = stream.frames.find((f) => f.t === "error");
    assert.match(JSON.parse(error.j).detail, /shutting down/);

    assert.equal((await disconnect).reasonCode, 0x8b);
    mqtt.end(true);
    await closed3;
    mqtt3.end(true);

    // On the leader: its own long poll.
    const leaderPoll = longPoll(nodes.url(leader));
    await sleep(300);
    const leaderMs = await stopTimed(nodes, leader);
    const leaderAnswer = await leaderPoll;
    assert.equal(leaderAnswer.status, 503);
    assert.equal(leaderAnswer.retryAfter, "1");
    console.log(`stopped after SIGTERM: follower ${followerMs} ms, leader ${leaderMs} ms`);
  } finally {
    await nodes.stop();
  }
});
