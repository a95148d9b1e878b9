/**
 * A client that sends faster than its PUBLISHes are committed (a QoS 0 flood, or any client while
 * the cluster has no leader: a batch publish is retried for up to 15 s) must not grow the node's
 * memory without bound: once a connection holds a bounded backlog of packets, it stops reading
 * its socket until the backlog shrinks (TCP then holds the client back).
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import type { ApiRequest } from "./broker_api.ts";
import { MqttConnection } from "./connection.ts";
import { answer, testContext } from "./_testing_connection.ts";
import type { ByteStream } from "./wire.ts";

/** Reads the stream offers before the test gives up on seeing the connection stop reading. */
const READS_OFFERED = 4_000;
/** QoS 0 PUBLISHes in each read. */
const PER_READ = 50;

Deno.test("a connection whose PUBLISHes are not committed stops reading its socket after a bounded backlog", async () => {
  const never = new Promise<{ status: number; text: string }>(() => {});
  // The batch publishes wait until the test ends them (then refused: the connection closes).
  const { promise: stalled, resolve: unstall } = Promise.withResolvers<void>();
  let publishes = 0;
  const fetch = (r: ApiRequest) => {
    if (r.method === "GET" && r.path === "/v1/topics/mqtt") {
      return answer(200, { retention: "interest" });
    }
    if (r.path.includes("/claims/")) return answer(200, { stamp: 1, present: false });
    if (r.path.endsWith("/messages")) {
      publishes++;
      return stalled.then(() => ({ status: 500, text: "{}" })); // the cluster commits nothing
    }
    return never; // receives wait
  };
  const connect = mqtt.generate({
    cmd: "connect",
    protocolVersion: 4,
    clientId: "flood",
    clean: true,
    keepalive: 0,
  } as Packet);
  const one = mqtt.generate({
    cmd: "publish",
    topic: "flood/x",
    payload: "0123456789abcdef0123456789abcdef",
    qos: 0,
    dup: false,
    retain: false,
  } as Packet);
  const chunk = new Uint8Array(one.length * PER_READ);
  for (let i = 0; i < PER_READ; i++) chunk.set(one, i * one.length);
  let reads = 0;
  let lastReadAt = Date.now();
  let closed = false;
  const { promise: ended, resolve: end } = Promise.withResolvers<null>();
  const stream: ByteStream = {
    async read(buf) {
      reads++;
      lastReadAt = Date.now();
      if (reads === 1) {
        buf.set(connect);
        return connect.length;
      }
      if (reads > READS_OFFERED) return await ended;
      // A macrotask per read, as a socket's would be.
      await new Promise((r) => setTimeout(r, 0));
      buf.set(chunk);
      return chunk.length;
    },
    write: (b) => Promise.resolve(b.length),
    close: () => {
      closed = true;
      end(null);
    },
    remote: "test:0",
  };
  const conn = new MqttConnection(testContext(fetch), stream);
  const running = conn.run();
  // Until the connection stops asking for more (1 s without a read) or took all that was offered.
  for (let i = 0; i < 600 && reads <= READS_OFFERED && Date.now() - lastReadAt < 1000; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const taken = reads;
  unstall();
  end(null);
  await running;
  assert.ok(publishes >= 1, "the first batch was posted");
  assert.ok(
    taken < READS_OFFERED / 4,
    `the connection read ${taken} of ${READS_OFFERED} reads (${taken * PER_READ} PUBLISHes) ` +
      "while nothing was committed",
  );
  assert.ok(closed, "the refused batch closed the connection");
});
