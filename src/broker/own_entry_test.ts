import assert from "node:assert/strict";
import type { Command, MessageInput, Proposal } from "./commands.ts";
import { decodeEntry, encodeEntry, packProposal, type Stamp } from "./envelope.ts";
import { keepsItsValue, ownEntry } from "./own_entry.ts";
import { snapshotBytes } from "./snapshot.ts";
import { BatchResults, BrokerState } from "./state.ts";

const encoder = new TextEncoder();

/** A publish as the HTTP layer proposes it: the body as its JSON text's bytes. */
function publish(queue: string, m: Omit<MessageInput, "body"> & { body: unknown }): Proposal {
  const message = { ...m, body: encoder.encode(JSON.stringify(m.body)) } as MessageInput;
  return { cmd: { op: "publish", queue, message } };
}

const run = (...ps: Proposal[]) => ps.map(packProposal);

Deno.test("ownEntry gives what decodeEntry reads from the entry's bytes", () => {
  const headers = JSON.parse('{"a":"1","b":"é ✓ 😀","c":""}') as Record<string, string>;
  const proposals: Proposal[] = [
    publish("q", { body: { n: 1, s: "x".repeat(300) } }),
    publish("q", { id: "id-1", body: "😀", headers, group: "g", delayMs: 5, ttlMs: 1.5 }),
    {
      cmd: { op: "ack", queue: "q", receipts: ["r1", "r2"] },
      idem: { key: "k", fingerprint: "f" },
    },
    { cmd: { op: "receive", queue: "q", max: 10 }, session: { id: 7, seq: 3, lowest: 2 } },
    { cmd: { op: "tick" }, owner: "alice" },
    {
      cmd: {
        op: "publish_batch",
        queue: "q",
        messages: [0, 1, 2].map((i) => ({ body: encoder.encode(`${i}`), id: `b-${i}` })),
      },
    },
  ];
  const stamps: Stamp[] = [{ ts: 1_700_000_000_123 }, { ts: 42, wallClock: true }, { ts: 2.5 }];
  for (const stamp of stamps) {
    for (const r of [...proposals.map((p) => run(p)), run(...proposals)]) {
      const own = ownEntry(stamp, r);
      assert.ok(own !== undefined);
      assert.deepStrictEqual(own, decodeEntry(encodeEntry(stamp, r)));
    }
  }
});

Deno.test("ownEntry refuses what msgpack would not give back as it was", () => {
  const stamp = { ts: 1000 };
  const cases: [string, Proposal][] = [
    [
      "a __proto__ key (read back as __proto_)",
      publish("q", { body: 1, headers: JSON.parse('{"__proto__":"x"}') }),
    ],
    ["a lone surrogate in a value", publish("q", { id: "a\ud800", body: 1 })],
    ["a lone surrogate in a key", publish("q", { body: 1, headers: { "k\udc00": "v" } })],
    ["-0 (read back as 0)", publish("q", { body: 1, delayMs: -0 })],
    ["a Map (read back as an object)", {
      cmd: { op: "publish", queue: "q", message: new Map() as unknown as MessageInput },
    }],
    ["a class instance (read back as a plain object)", {
      cmd: { op: "tick" },
      owner: new (class Named {
        readonly name = "n";
      })() as unknown as string,
    }],
  ];
  for (const [why, p] of cases) {
    const r = run(p);
    assert.equal(ownEntry(stamp, r), undefined, why);
    // The refusal matters: the bytes do read back otherwise.
    assert.notDeepStrictEqual(
      { stamp: { ...stamp, ...p }, batch: false, items: [{ ...stamp, ...p }] },
      decodeEntry(encodeEntry(stamp, r)),
      why,
    );
    // One such proposal in a batch: the whole run is decoded.
    assert.equal(ownEntry(stamp, run(publish("q", { body: 2 }), p)), undefined, why);
  }
  assert.equal(keepsItsValue(undefined, 0), false);
  assert.equal(keepsItsValue({ a: undefined }, 0), false);
  assert.equal(keepsItsValue(1n, 0), false);
  // Read back as a Date, but not a value a proposal holds: decoded, to be safe.
  assert.equal(keepsItsValue(new Date(0), 0), false);
  assert.equal(keepsItsValue([1, , 3], 0), false);
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = [deep];
  assert.equal(keepsItsValue(deep, 0), false);
  assert.equal(ownEntry({ ts: -0 }, run(publish("q", { body: 1 }))), undefined);
});

/** A small deterministic generator (xorshift32). */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** JSON headers as a client sends them, now and then with a key ownEntry must refuse. */
const HEADER_TEXTS = [
  '{"h":"1"}',
  '{"trace":"abc","x-n":"2"}',
  '{"__proto__":"p","h":"1"}',
  '{"k":"\\ud800"}',
  '{"ü":"✓"}',
];

Deno.test("applying own entries gives every result and the whole state that decoding gives", () => {
  const rand = prng(20261207);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const decoded = new BrokerState();
  const own = new BrokerState();
  const setup: Command[] = [
    { op: "queue_put", queue: "q", options: {} },
    { op: "queue_put", queue: "r", options: { maxMessages: 50 } },
    { op: "topic_put", topic: "t", options: {} },
    { op: "subscription_put", topic: "t", subscription: "s", options: {} },
  ];
  const receipts: string[] = [];
  const next = (): Proposal => {
    const roll = rand();
    const message = (): MessageInput => {
      const m: Record<string, unknown> = {
        body: encoder.encode(JSON.stringify({ n: Math.floor(rand() * 1000) })),
      };
      if (rand() < 0.5) m.id = `id-${Math.floor(rand() * 300)}`;
      if (rand() < 0.3) m.headers = JSON.parse(pick(HEADER_TEXTS));
      if (rand() < 0.1) m.delayMs = pick([0, -0, 10, 2000]);
      return m as unknown as MessageInput;
    };
    if (roll < 0.35) return { cmd: { op: "publish", queue: pick(["q", "r"]), message: message() } };
    if (roll < 0.45) {
      return { cmd: { op: "topic_publish", topic: "t", message: { ...message(), subject: "a" } } };
    }
    if (roll < 0.55) {
      const messages = Array.from({ length: 1 + Math.floor(rand() * 5) }, message);
      return { cmd: { op: "publish_batch", queue: "q", messages } };
    }
    if (roll < 0.7) return { cmd: { op: "receive", queue: pick(["q", "r"]), max: 3 } };
    if (roll < 0.85 && receipts.length > 0) {
      return { cmd: { op: "ack", queue: "q", receipts: receipts.splice(0, 2) } };
    }
    if (roll < 0.95) {
      return {
        cmd: { op: "subscription_receive", topic: "t", subscription: "s", max: 2 },
        idem: { key: `k${Math.floor(rand() * 20)}`, fingerprint: "f" },
      };
    }
    return { cmd: { op: "tick" } };
  };
  let index = 0;
  let ts = 1_000_000;
  let kept = 0;
  let refused = 0;
  const apply = (proposals: Proposal[]) => {
    index++;
    ts += Math.floor(rand() * 3000);
    const r = run(...proposals);
    const stamp = { ts };
    const data = encodeEntry(stamp, r);
    const entry = ownEntry(stamp, r);
    if (entry === undefined) refused++;
    else kept++;
    const a = decoded.applyEntry(index, data);
    const b = own.applyEntry(index, data, entry);
    assert.deepStrictEqual(b, a, `entry ${index}`);
    for (const res of a instanceof BatchResults ? a.results : [a]) {
      const ms = (res as { messages?: { receipt: string }[] } | undefined)?.messages;
      for (const m of ms ?? []) receipts.push(m.receipt);
    }
  };
  for (const cmd of setup) apply([{ cmd }]);
  for (let i = 0; i < 400; i++) {
    apply(Array.from({ length: rand() < 0.3 ? 1 : 2 + Math.floor(rand() * 8) }, next));
    if (i % 50 === 0) assert.deepStrictEqual(snapshotBytes(own), snapshotBytes(decoded));
  }
  assert.deepStrictEqual(snapshotBytes(own), snapshotBytes(decoded));
  assert.ok(kept > 50 && refused > 50, `kept ${kept}, refused ${refused}`);
});
