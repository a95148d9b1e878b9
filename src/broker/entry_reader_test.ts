import assert from "node:assert/strict";
import { Packr } from "msgpackr";
import { readEntryValue } from "./_entry_reader.ts";
import { decodeEntry, encodeEntry, packProposal } from "./envelope.ts";

// The packr of envelope.ts: what entries are written with and read back with.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** The bytes of an entry body (version byte in front) for `value`. */
function entryBytes(value: unknown): Uint8Array {
  const packed = packr.pack(value);
  const out = new Uint8Array(packed.length + 1);
  out[0] = 1;
  out.set(packed, 1);
  return out;
}

/** Deep equality that also tells apart -0, NaN, undefined, and a Buffer from a Uint8Array. */
function same(a: unknown, b: unknown, path = "$"): void {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    assert(Object.is(a, b), `${path}: ${String(a)} vs ${String(b)}`);
    return;
  }
  assert.deepStrictEqual(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${path}: prototype`);
  if (a instanceof Uint8Array) {
    assert.deepStrictEqual([...a], [...(b as Uint8Array)], `${path}: bytes`);
    return;
  }
  assert.deepStrictEqual(Object.keys(a), Object.keys(b), `${path}: keys`);
  for (const k of Object.keys(a)) {
    same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
  }
}

/** Reads `value`'s entry bytes both ways: the same value, or refused by the reader. */
function check(value: unknown, mustRead = true): boolean {
  const bytes = entryBytes(value);
  const expected = packr.unpack(bytes.subarray(1));
  const fast = readEntryValue(bytes, 1);
  if (mustRead) assert(fast.ok, `not read: ${JSON.stringify(value)}`);
  if (fast.ok) same(fast.value, expected);
  return fast.ok;
}

/** A small deterministic random source (no flaky seeds). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const STRINGS = [
  "",
  "a",
  "publish",
  "topic_publish_batch",
  "mqtt-payload",
  "orders.eu.created",
  "x".repeat(24),
  "y".repeat(25),
  "z".repeat(300),
  "u".repeat(64),
  "v".repeat(65),
  "0b4e7c6a-2f1d-4e8b-9a3c-5d6e7f8a9b0c",
  "ä".repeat(20),
  "\ufeffbom first",
  "héllo wörld",
  "日本語のテキスト",
  "emoji 😀 pair",
  "__proto__",
  "constructor",
  "0",
  "17",
  "toString",
];

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 9 : 12));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return Math.floor(r() * 256) - 128;
    case 3: {
      const scales = [1, 2 ** 8, 2 ** 16, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53];
      const v = Math.floor(r() * scales[Math.floor(r() * scales.length)]);
      return r() < 0.3 ? -v : v;
    }
    case 4:
      return [0.5, -1.25, 1e300, -0, NaN, Infinity, 3.14159, 2 ** 60][Math.floor(r() * 8)];
    case 5:
    case 6:
      return STRINGS[Math.floor(r() * STRINGS.length)];
    case 7:
      return new Uint8Array(Array.from({ length: Math.floor(r() * 40) }, () => r() * 256));
    case 8:
      return undefined;
    case 9:
    case 10: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(r() * 6);
      for (let i = 0; i < n; i++) {
        o[STRINGS[Math.floor(r() * STRINGS.length)]] = randomValue(r, depth + 1);
      }
      return o;
    }
    default:
      return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth + 1));
  }
}

Deno.test("readEntryValue reads what msgpackr reads, value for value, or refuses it", () => {
  const r = rng(7);
  let read = 0;
  for (let i = 0; i < 3000; i++) read += check({ v: randomValue(r, 0) }, false) ? 1 : 0;
  // Only values with 64-bit integers are refused.
  assert(read > 2000, `read ${read} of 3000`);
});

Deno.test("readEntryValue reads the broker's common entries itself", () => {
  const body = new TextEncoder().encode(JSON.stringify("x".repeat(256)));
  check({
    ts: 1_765_000_000_000,
    cmd: {
      op: "topic_publish_batch",
      topic: "mqtt",
      messages: Array.from({ length: 64 }, (_, i) => ({
        subject: `bench.q${i % 3}`,
        body,
        headers: { "mqtt-payload": "utf8", "mqtt-qos": "1" },
      })),
    },
  });
  check([
    { ts: 5, wallClock: true },
    ...Array.from({ length: 300 }, (_, i) => ({
      cmd: { op: "publish", queue: "q", message: { body, id: `id-${i}` } },
      session: { id: 3, seq: i + 1, lowest: i },
      owner: "tok",
    })),
  ]);
  check({ ts: 2, cmd: { op: "publish", queue: "q", message: { body, id: "é ü" } } });
});

Deno.test("readEntryValue refuses invalid UTF-8 (a lone surrogate), truncation and trailing bytes", () => {
  // {s: <the bytes of a lone surrogate>}: msgpackr's JS and native readers differ on such bytes.
  const lone = new Uint8Array([1, 0x81, 0xa1, 0x73, 0xa3, 0xed, 0xa0, 0x80]);
  assert.deepStrictEqual(readEntryValue(lone, 1).ok, false);
  const whole = entryBytes({ a: [1, 2, 3], b: "text" });
  for (let cut = 2; cut < whole.length; cut++) {
    assert.deepStrictEqual(readEntryValue(whole.subarray(0, cut), 1).ok, false, `cut at ${cut}`);
  }
  const trailing = new Uint8Array([...whole, 0xc0]);
  assert.deepStrictEqual(readEntryValue(trailing, 1).ok, false);
});

Deno.test("a cached string is never handed out for other bytes of the same hash slot", () => {
  // Many distinct short strings through the same cache: each must read back as itself.
  for (let i = 0; i < 20_000; i++) {
    const s = `k${i.toString(36)}`;
    const fast = readEntryValue(entryBytes({ [s]: s }), 1);
    assert(fast.ok);
    assert.deepStrictEqual((fast as { value: unknown }).value, { [s]: s });
  }
});

Deno.test("decodeEntry of a batch gives the stamp and the proposals, a non-proposal as undefined", () => {
  const stamp = { ts: 9 };
  const items = [
    { cmd: { op: "tick" as const } },
    { cmd: { op: "queue_delete" as const, queue: "q" } },
  ].map((p) => packProposal(p));
  const decoded = decodeEntry(encodeEntry(stamp, items));
  assert.deepStrictEqual(decoded, {
    stamp,
    batch: true,
    items: [{ cmd: { op: "tick" } }, { cmd: { op: "queue_delete", queue: "q" } }],
  });
  const odd = entryBytes([stamp, 5, { cmd: { op: "tick" } }]);
  odd[0] = 2;
  assert.deepStrictEqual(decodeEntry(odd).items, [undefined, { cmd: { op: "tick" } }]);
});
