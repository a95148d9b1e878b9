/**
 * Why replicated bytes never reach msgpackr's `unpack` (docs/broker.md, "Replicated bytes are
 * decoded by that reader alone"): msgpackr decodes the same bytes to another value now and then
 * while another worker of the process loads it. Its native string extractor (the
 * msgpackr-extract addon) rebuilds a process-wide token table, every entry nulled then filled,
 * each time a worker loads it; an extraction running meanwhile in another thread misparses, and
 * the strings msgpackr hands out are out of step with the keys and values it reads.
 *
 * One worker decodes one entry (a topic batch publish with float64s and nested maps, read with
 * the extractor: over 180 bytes, not through msgpackr's key cache) in a loop, for `--seconds`,
 * and counts decodes that differ from the first; `--loaders` workers meanwhile keep loading
 * msgpackr (each a fresh worker). With `--loaders 0`, the control: nothing else loads it.
 * Needs -A (the addon needs --allow-ffi). 2026-12-07 (2 cores, load ~6): 60 s, 3 loaders:
 * 4 of 781,000 decodes differed, keys read as bytes from elsewhere in the entry; the control,
 * 0 of 2,152,000.
 *
 * Usage: deno run -A test/bench/msgpackr_race.ts [--seconds 60] [--loaders 3]
 *
 * @module
 */

import { parseArgs } from "node:util";
// The package root: the build that loads the native extractor ("msgpackr" is the pure-JS one).
import { isNativeAccelerationEnabled, Packr } from "msgpackr-native";

const role = (globalThis as { name?: string }).name ?? "main";
/** This module's worker scope, in the roles run in a worker. */
const scope = globalThis as unknown as {
  postMessage(v: unknown): void;
  onmessage: ((e: MessageEvent<number>) => void) | null;
};

/** An MQTT-like topic entry's msgpack: maps, strings, float64s. */
function entryBytes(): Uint8Array {
  const packr = new Packr({ useRecords: false, moreTypes: false });
  // Float64s between short strings: a float's 8 bytes misparsed as tokens make strings of them.
  const messages = Array.from({ length: 24 }, (_, i) => ({
    body: new Uint8Array([i, 0xcb, 0xde]),
    headers: { "mqtt-payload": `é${i}`, "mqtt-qos": "1", at: [1.5e12 + i / 3, -i / 7, i / 11] },
    subject: `a.b${i}`,
    ttl: -(i + 0.25),
    k: [`x${i}`, i * 1.37, `y${i}`, -i * 2.91, `z${i}`],
  }));
  return Uint8Array.from(
    packr.pack([{ ts: 5.5 }, { cmd: { op: "topic_publish_batch", messages } }]),
  );
}

/** Every string and key of `v`, in order: what the race gets wrong. */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) { for (const x of v) strings(x, out); }
  else if (typeof v === "object" && v !== null && !(v instanceof Uint8Array)) {
    for (const [k, x] of Object.entries(v)) out.push(k), strings(x, out);
  } else out.push(String(v));
  return out;
}

if (role === "loader") {
  new Packr().unpack(new Uint8Array([0x81, 0xa1, 0x61, 0xa1, 0x62]));
  scope.postMessage(isNativeAccelerationEnabled);
} else if (role === "decoder") {
  scope.onmessage = (e) => {
    const packr = new Packr({ useRecords: false, moreTypes: false });
    const bytes = entryBytes();
    const expected = strings(packr.unpack(bytes)).join("\u0001");
    let decodes = 0;
    let differed = 0;
    const examples: string[] = [];
    const until = Date.now() + e.data * 1000;
    while (Date.now() < until) {
      for (let i = 0; i < 1000; i++, decodes++) {
        const got = strings(packr.unpack(bytes));
        if (got.join("\u0001") === expected) continue;
        differed++;
        const want = expected.split("\u0001");
        const at = got.findIndex((s, j) => s !== want[j]);
        if (examples.length < 3) examples.push(`${JSON.stringify(got[at])} for ${want[at]}`);
      }
    }
    scope.postMessage({ decodes, differed, examples });
  };
} else {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "60" },
      loaders: { type: "string", default: "3" },
    },
  });
  if (!isNativeAccelerationEnabled) {
    throw new Error("msgpackr's native extractor did not load: run with -A");
  }
  const url = new URL(import.meta.url);
  const decoder = new Worker(url, { type: "module", name: "decoder" });
  const result = new Promise<unknown>((resolve) => decoder.onmessage = (e) => resolve(e.data));
  decoder.postMessage(Number(values.seconds));
  let done = false;
  let loads = 0;
  const loader = async () => {
    while (!done) {
      await new Promise<void>((resolve) => {
        const w = new Worker(url, { type: "module", name: "loader" });
        w.onmessage = () => (loads++, w.terminate(), resolve());
      });
    }
  };
  const loaders = Array.from({ length: Number(values.loaders) }, loader);
  const out = await result;
  done = true;
  await Promise.all(loaders);
  decoder.terminate();
  console.log({ loaders: Number(values.loaders), loads, ...(out as object) });
}
