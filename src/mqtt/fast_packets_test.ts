import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt-packet";
import type { IPublishPacket, Packet } from "mqtt-packet";
import { ackBytes, publishAt } from "./fast_packets.ts";
import { connectPacket } from "./_testing_packets.ts";
import { type ByteStream, Wire } from "./wire.ts";

/** A packet as a plain record (payloads as arrays), for comparing. */
function plain(p: Packet): Record<string, unknown> {
  const out: Record<string, unknown> = { ...p };
  for (const k of ["payload", "password"]) {
    const v = out[k];
    if (v instanceof Uint8Array) out[k] = [...v];
  }
  if (out.will !== undefined) {
    const w = { ...(out.will as Record<string, unknown>) };
    if (w.payload instanceof Uint8Array) w.payload = [...w.payload];
    out.will = w;
  }
  return out;
}

/** What `mqtt-packet`'s parser alone reads from `bytes` (after a CONNECT of `version`). */
function parsedAlone(bytes: Uint8Array): { packets: Packet[]; errors: string[] } {
  const parser = mqtt.parser({});
  const packets: Packet[] = [];
  const errors: string[] = [];
  parser.on("packet", (p: Packet) => packets.push(p));
  parser.on("error", (e: Error) => errors.push(e.message));
  parser.parse(Buffer.from(bytes));
  return { packets, errors };
}

const connect = connectPacket;

const encoder = new TextEncoder();

/** PUBLISHes of every shape the gateway may get, with and without properties. */
function publishes(version: 3 | 4 | 5): Packet[] {
  const out: Packet[] = [];
  const topics = ["a", "bench/0/q1", "été/ü/€", "$SYS/x", "a//b", "x".repeat(300)];
  const payloads: (string | Uint8Array)[] = [
    "",
    "x",
    "x".repeat(256),
    '{"t":21.5}',
    Buffer.from([0xff, 0, 1]),
    "y".repeat(20_000), // a 3-byte remaining length
  ];
  let id = 1;
  for (const topic of topics) {
    for (const payload of payloads) {
      for (const qos of [0, 1, 2] as const) {
        for (const flags of [0, 1, 2, 3]) {
          out.push({
            cmd: "publish",
            topic,
            payload,
            qos,
            retain: (flags & 1) !== 0,
            dup: (flags & 2) !== 0,
            ...(qos > 0 ? { messageId: id++ % 65536 } : {}),
          } as Packet);
        }
      }
    }
  }
  if (version === 5) {
    out.push({
      cmd: "publish",
      topic: "t/p",
      payload: "p",
      qos: 1,
      retain: false,
      dup: false,
      messageId: 7,
      properties: { messageExpiryInterval: 60, userProperties: { a: "b" } },
    } as Packet);
    out.push({
      cmd: "publish",
      topic: "t/alias",
      payload: "p",
      qos: 1,
      retain: false,
      dup: false,
      messageId: 8,
      properties: { topicAlias: 3 },
    } as Packet);
  }
  return out;
}

for (const version of [3, 4, 5] as const) {
  Deno.test(`fast packets: a whole PUBLISH without properties reads as mqtt-packet reads it (v${version}); one with properties is left to it`, () => {
    let fast = 0;
    for (const p of publishes(version)) {
      const bytes = Buffer.concat([mqtt.generate(p, { protocolVersion: version })]);
      const alone = parsedAlone(Buffer.concat([connect(version), bytes]));
      assert.deepEqual(alone.errors, []);
      const want = alone.packets[1] as IPublishPacket;
      const got = publishAt(bytes, 0, version, undefined);
      if (want.properties !== undefined) {
        assert.equal(got, undefined, `v${version} ${p.cmd} with properties`);
        continue;
      }
      assert.ok(got !== undefined, `v${version} ${JSON.stringify(want.topic)}`);
      fast++;
      assert.equal(got.next, bytes.length);
      assert.deepEqual(plain(got.packet), plain(want));
      // The topic of the packet before is reused only when it is the same text.
      const again = publishAt(bytes, 0, version, want.topic);
      assert.deepEqual(plain(again!.packet), plain(want));
      const other = publishAt(bytes, 0, version, want.topic + "x");
      assert.deepEqual(plain(other!.packet), plain(want));
      // Cut short anywhere: not whole, left to the parser.
      for (const cut of [1, 2, 3, bytes.length - 1]) {
        if (cut < bytes.length) {
          assert.equal(publishAt(bytes.subarray(0, cut), 0, version, undefined), undefined);
        }
      }
    }
    assert.ok(fast > 400);
  });
}

Deno.test("fast packets: a topic that is not UTF-8 decodes as mqtt-packet decodes it", () => {
  const topic = new Uint8Array([0x61, 0xff, 0x2f, 0xc3]);
  const body = [0, topic.length, ...topic, 0, 9, ...encoder.encode("pay")];
  const bytes = Buffer.from([0x32, body.length, ...body]);
  const want = parsedAlone(Buffer.concat([connect(4), bytes])).packets[1];
  assert.deepEqual(plain(publishAt(bytes, 0, 4, undefined)!.packet), plain(want));
});

Deno.test("fast packets: anything but a sound PUBLISH is left to the parser", () => {
  const cases: [string, number[]][] = [
    ["QoS 3", [0x36, 5, 0, 1, 0x61, 0, 1]],
    ["topic past the packet", [0x30, 3, 0, 9, 0x61]],
    ["no room for the packet id", [0x32, 3, 0, 1, 0x61]],
    ["empty", [0x30, 0]],
    ["a 5-byte length", [0x30, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ["PUBREL", [0x62, 2, 0, 1]],
    ["PINGREQ", [0xc0, 0]],
  ];
  for (const [name, bytes] of cases) {
    assert.equal(publishAt(Buffer.from(bytes), 0, 4, undefined), undefined, name);
  }
  // v5 without its property length byte, or with properties.
  assert.equal(publishAt(Buffer.from([0x30, 3, 0, 1, 0x61]), 0, 5, undefined), undefined);
  assert.equal(publishAt(Buffer.from([0x30, 5, 0, 1, 0x61, 2, 1]), 0, 5, undefined), undefined);
});

Deno.test("fast packets: plain acknowledgements are written byte for byte as mqtt-packet writes them; others are left to it", () => {
  for (const version of [3, 4, 5]) {
    for (const cmd of ["puback", "pubrec", "pubrel", "pubcomp"]) {
      for (const messageId of [0, 1, 255, 256, 4660, 65535]) {
        const p =
          (version === 5 ? { cmd, messageId, reasonCode: 0 } : { cmd, messageId }) as Packet;
        const want = new Uint8Array(mqtt.generate(p, { protocolVersion: version }));
        assert.deepEqual(ackBytes(p, version), want, `${cmd} ${messageId} v${version}`);
      }
    }
  }
  const left: [Packet, number][] = [
    [{ cmd: "puback", messageId: 1, reasonCode: 0x80 } as Packet, 5],
    [{ cmd: "pubrec", messageId: 1, reasonCode: 0x97 } as Packet, 5],
    [{ cmd: "puback", messageId: 1 } as Packet, 5],
    [
      { cmd: "puback", messageId: 1, reasonCode: 0, properties: { reasonString: "x" } } as Packet,
      5,
    ],
    [{ cmd: "pubrel", messageId: 1, dup: true } as unknown as Packet, 4],
    [{ cmd: "puback", messageId: 70_000 } as Packet, 4],
    [{ cmd: "puback" } as Packet, 4],
    [{ cmd: "pingresp" } as Packet, 4],
    [{ cmd: "suback", messageId: 1, granted: [0] } as Packet, 4],
  ];
  for (const [p, version] of left) assert.equal(ackBytes(p, version), undefined, JSON.stringify(p));
});

/** A `ByteStream` that hands out `bytes` in the given pieces, then ends. */
function pieces(bytes: Uint8Array, cuts: number[]): ByteStream {
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) parts.push(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return {
    read(buf: Uint8Array) {
      const part = parts.shift();
      if (part === undefined) return Promise.resolve(null);
      buf.set(part);
      return Promise.resolve(part.length);
    },
    write: (b) => Promise.resolve(b.length),
    close() {},
    remote: "test",
  };
}

/** What a `Wire` reads from `bytes` cut at `cuts`, and the errors it reports. */
async function wireReads(bytes: Uint8Array, cuts: number[], max = 1 << 20) {
  const packets: Packet[] = [];
  const errors: string[] = [];
  let reads = 0;
  await new Wire(pieces(bytes, cuts), max).read({
    packet: (p) => packets.push(p),
    read: () => void reads++,
    error: (e) => errors.push(`${e.kind}`),
  });
  return { packets, errors, reads };
}

/** A stream of mixed packets after a CONNECT: PUBLISHes (some with properties) among others. */
function mixedStream(version: 4 | 5): Uint8Array {
  const v = { protocolVersion: version };
  const ps: Packet[] = [];
  const all = publishes(version).filter((p) => (p as IPublishPacket).payload.length < 1000);
  for (let i = 0; i < 40; i++) {
    ps.push(all[(i * 37) % all.length]);
    if (i % 5 === 0) ps.push({ cmd: "pubrel", messageId: i + 1 } as Packet);
    if (i % 7 === 0) ps.push({ cmd: "pingreq" } as Packet);
    if (i % 11 === 0) {
      ps.push({
        cmd: "subscribe",
        messageId: 100 + i,
        subscriptions: [{ topic: "s/#", qos: 1 }],
      } as Packet);
    }
  }
  if (version === 5) ps.push(...publishes(5).slice(-2));
  return Buffer.concat([connect(version), ...ps.map((p) => mqtt.generate(p, v))]);
}

Deno.test("wire: a stream cut anywhere reads as mqtt-packet reads it whole, in order", async () => {
  for (const version of [4, 5] as const) {
    const bytes = mixedStream(version);
    const want = parsedAlone(bytes);
    assert.deepEqual(want.errors, []);
    let seed = version;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const cutsOf = [
      [],
      Array.from({ length: 200 }, (_, i) => i * 7),
      Array.from({ length: 40 }, () => rand(bytes.length)).sort((a, b) => a - b),
      Array.from({ length: 400 }, () => rand(bytes.length)).sort((a, b) => a - b),
    ];
    for (const cuts of cutsOf) {
      const got = await wireReads(bytes, cuts);
      assert.deepEqual(got.errors, []);
      assert.deepEqual(
        got.packets.map(plain),
        want.packets.map(plain),
        `v${version} cuts ${cuts.length}`,
      );
      // Read here (plain objects, not the parser's): every PUBLISH of a read after the first
      // (the CONNECT's, whose version the parser learns), up to one the parser must take.
      const here = got.packets.filter((p) => Object.getPrototypeOf(p) === Object.prototype);
      if (cuts.length >= 40) assert.ok(here.length > 5, `v${version}: ${here.length} read here`);
    }
  }
});

Deno.test("wire: a PUBLISH larger than the bound is refused, read here or by the parser", async () => {
  const big = mqtt.generate({
    cmd: "publish",
    topic: "t",
    payload: "z".repeat(5000),
    qos: 1,
    messageId: 1,
    retain: false,
    dup: false,
  } as Packet);
  const bytes = Buffer.concat([connect(4), big, big]);
  for (const cuts of [[], [connect(4).length], [connect(4).length + 100]]) {
    const got = await wireReads(bytes, cuts, 4000);
    assert.deepEqual(got.errors, ["oversized"]);
    assert.equal(got.packets.length, 1); // the CONNECT only
  }
});

Deno.test("wire: a malformed packet after PUBLISHes read here is the parser's error", async () => {
  const pub = mqtt.generate({
    cmd: "publish",
    topic: "t",
    payload: "p",
    qos: 0,
    retain: false,
    dup: false,
  } as Packet);
  const bad = Buffer.from([0x36, 3, 0, 1, 0x61]); // QoS 3
  const got = await wireReads(Buffer.concat([connect(4), pub, pub, bad, pub]), []);
  assert.equal(got.packets.length, 3);
  assert.deepEqual(got.errors, ["malformed"]);
  // A remaining length of more than 4 bytes, whole or cut.
  const long = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
  const stream = Buffer.concat([connect(4), pub, long]);
  for (const cuts of [[], [stream.length - 3]]) {
    const cut = await wireReads(stream, cuts);
    assert.equal(cut.packets.length, 2);
    assert.deepEqual(cut.errors, ["malformed"]);
  }
});

Deno.test("wire: acknowledgements written by sendAck, among other packets, are the bytes mqtt-packet generates, in order", async () => {
  const fc = (await import("fast-check")).default;
  const ack = fc.record({
    cmd: fc.constantFrom("puback" as const, "pubrec" as const, "pubcomp" as const),
    messageId: fc.integer({ min: 0, max: 0xffff }),
    reasonCode: fc.constantFrom(0, 0x10, 0x80, 0x87, 0x92, 0x97),
  });
  const other = fc.constantFrom<Packet[]>(
    [{ cmd: "pingresp" }],
    [{ cmd: "suback", messageId: 7, granted: [1] } as Packet],
    [{ cmd: "pubrel", messageId: 9 } as Packet],
    [{
      cmd: "publish",
      topic: "a/b",
      payload: "xyz",
      qos: 1,
      dup: false,
      retain: false,
      messageId: 3,
    }],
  );
  // Each step: an ack, another packet (through `send`), or a few microtask turns (a write may be
  // under way or done: what comes during a write goes after it).
  const step = fc.oneof(
    { weight: 6, arbitrary: ack.map((a) => ({ ack: a })) },
    { weight: 1, arbitrary: other.map((p) => ({ packet: p[0] })) },
    { weight: 2, arbitrary: fc.nat({ max: 4 }).map((ticks) => ({ ticks })) },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(4, 5),
      fc.array(step, { maxLength: 150 }),
      async (version, steps) => {
        const written: Uint8Array[] = [];
        const conn: ByteStream = {
          read: () => Promise.resolve(null),
          write: (b) => {
            written.push(b.slice());
            // A short write now and then: the rest is written next.
            const n = b.length > 5 && written.length % 3 === 0 ? 5 : b.length;
            written[written.length - 1] = b.slice(0, n);
            return Promise.resolve(n);
          },
          close: () => {},
          remote: "test",
        };
        const wire = new Wire(conn, 1 << 20);
        wire.version = version;
        const expected: Uint8Array[] = [];
        for (const s of steps) {
          if ("ticks" in s) {
            for (let i = 0; i < s.ticks; i++) await Promise.resolve();
            continue;
          }
          const p = "ack" in s
            ? (version === 5
              ? { cmd: s.ack.cmd, messageId: s.ack.messageId, reasonCode: s.ack.reasonCode }
              : { cmd: s.ack.cmd, messageId: s.ack.messageId }) as Packet
            : s.packet;
          expected.push(mqtt.generate(p, { protocolVersion: version }));
          if ("ack" in s) wire.sendAck(s.ack.cmd, s.ack.messageId, s.ack.reasonCode);
          else wire.send(s.packet);
        }
        await wire.written();
        assert.deepEqual([...Buffer.concat(written)], [...Buffer.concat(expected)]);
      },
    ),
    { numRuns: 500 },
  );
});
