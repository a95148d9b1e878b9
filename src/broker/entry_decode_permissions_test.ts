/**
 * Every node must decode an entry to what the leader applied from its own proposals
 * (`ownEntry`), however the node was started. msgpackr reads strings with a native extractor
 * when it can load one (a process with `--allow-ffi`, such as `deno run -A`) and in JavaScript
 * otherwise (`deno task start`'s permissions), and the two differ: its JavaScript reader drops a
 * leading U+FEFF from a string over 64 bytes. So an entry must not reach msgpackr when the
 * leader applies it as its own: the entry reader (`_entry_reader.ts`) must read every entry
 * `ownEntry` accepts. A header name of 32 bytes or more is packed as a str8 key (256 or more: a
 * str16 key), and the API allows names of up to 256 characters.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { MessageInput, Proposal } from "./commands.ts";
import { decodeEntry, encodeEntry, encodeEnvelope, packProposal, type Stamp } from "./envelope.ts";
import { restoreSnapshot, snapshotBytes } from "./snapshot.ts";
import { BrokerState } from "./state.ts";
import { ownEntry } from "./own_entry.ts";
import { readEntryValue } from "./_entry_reader.ts";
import { Packr } from "msgpackr";
import { runWithoutFfi } from "../../test/testing/child_without_ffi.ts";

const encoder = new TextEncoder();

function publish(headers: Record<string, string>, id?: string): Proposal {
  const body = encoder.encode('"x"');
  const message: MessageInput = id === undefined ? { body, headers } : { body, id, headers };
  return { cmd: { op: "publish", queue: "q", message } };
}

const stamp: Stamp = { ts: 1_700_000_000_000 };
const bom = "\uFEFF" + "settlement 42 ".repeat(6);

const cases: [string, Proposal[]][] = [
  ["a 32-character header name", [publish({ ["n".repeat(32)]: "v" })]],
  ["a 40-character header name and a value led by U+FEFF", [
    publish({ ["n".repeat(40)]: bom }),
  ]],
  ["a 256-character header name", [publish({ ["h".repeat(256)]: "v" })]],
  ["a 200-character non-ASCII header name (str16 key)", [publish({ ["é".repeat(200)]: "v" })]],
  ["a batch of two, one with a long header name, an id led by U+FEFF", [
    publish({ a: "1" }, bom),
    publish({ ["long-header-name-".repeat(3)]: bom }, bom + "2"),
  ]],
];

Deno.test("entry reader: every entry the leader applies as its own is read by it, not left to msgpackr", () => {
  for (const [name, proposals] of cases) {
    const run = proposals.map(packProposal);
    const data = encodeEntry(stamp, run);
    assert.ok(ownEntry(stamp, proposals.map(packProposal)) !== undefined, name);
    assert.ok(readEntryValue(data, 1).ok, `${name}: left to msgpackr`);
  }
});

/** Runs `test/testing/broker_decode_child.ts` without --allow-ffi on `bytes`; its output. */
async function inChildWithoutFfi(mode: "entry" | "snapshot", bytes: Uint8Array): Promise<string> {
  const child = new URL("../../test/testing/broker_decode_child.ts", import.meta.url).pathname;
  return await runWithoutFfi(child, [mode], bytes);
}

Deno.test("entry reader: a node started without --allow-ffi decodes what the leader applied", async () => {
  const proposals = cases[1][1];
  const run = proposals.map(packProposal);
  const own = ownEntry(stamp, run);
  assert.ok(own !== undefined);
  const data = encodeEntry(stamp, run);
  const items = JSON.parse(await inChildWithoutFfi("entry", data));
  const decodedValue = items[0].cmd.message.headers["n".repeat(40)];
  const appliedValue = (own.items[0]!.cmd as { message: MessageInput }).message.headers![
    "n".repeat(40)
  ];
  assert.equal(appliedValue.charCodeAt(0), 0xfeff);
  assert.equal(decodedValue.length, appliedValue.length, "the follower's value lost a character");
  assert.equal(decodedValue, appliedValue);
});

Deno.test("snapshot: a node started without --allow-ffi restores the state the snapshot holds", async () => {
  const state = new BrokerState();
  state.applyEntry(1, encodeEnvelope({ ts: 1, cmd: { op: "queue_put", queue: "q", options: {} } }));
  const message: MessageInput = {
    body: encoder.encode('"x"'),
    id: bom,
    subject: bom + ".subject",
    headers: { short: "\uFEFFv", long: bom, ["n".repeat(40)]: bom },
  };
  state.applyEntry(2, encodeEnvelope({ ts: 2, cmd: { op: "publish", queue: "q", message } }));
  const bytes = snapshotBytes(state);
  // In this process (msgpackr's native extractor loaded, or the same code) the state comes back.
  assert.deepEqual(snapshotBytes(restoreSnapshot(bytes)), bytes);
  const again = Uint8Array.from(
    atob((await inChildWithoutFfi("snapshot", bytes)).trim()),
    (c) => c.charCodeAt(0),
  );
  assert.equal(again.length, bytes.length, "the restored state is not the snapshot's");
  assert.deepEqual(again, bytes);
});

Deno.test("entry reader: random headers, ids and subjects the leader keeps are read by it, as the leader applied them (property)", () => {
  const text = fc.oneof(
    fc.string({ unit: "binary", maxLength: 300 }),
    fc.string({ unit: "binary", maxLength: 80 }).map((s) => "\uFEFF" + s),
    fc.nat({ max: 300 }).map((n) => "k".repeat(n)),
  );
  const proposal = fc.record({
    headers: fc.dictionary(text, text, { maxKeys: 5 }),
    id: fc.option(text, { nil: undefined }),
    subject: fc.option(text, { nil: undefined }),
  }).map(({ headers, id, subject }): Proposal => {
    const message: MessageInput = {
      body: encoder.encode('"x"'),
      headers,
      ...(id === undefined ? {} : { id }),
      ...(subject === undefined ? {} : { subject }),
    };
    return { cmd: { op: "publish", queue: "q", message } };
  });
  fc.assert(
    fc.property(fc.array(proposal, { minLength: 1, maxLength: 3 }), (proposals) => {
      const run = proposals.map(packProposal);
      const own = ownEntry(stamp, run);
      const data = encodeEntry(stamp, run);
      if (own === undefined) return; // a lone surrogate or a __proto__ key: every node decodes
      assert.ok(readEntryValue(data, 1).ok, "left to msgpackr");
      assert.deepStrictEqual(decodeEntry(data), own);
    }),
    { numRuns: 400 },
  );
});

/**
 * `{ts, cmd}` of a publish whose header value is led by U+FEFF and over 64 bytes (msgpackr's JS
 * reader drops that U+FEFF, its native extractor keeps it) and which also holds a Date (an
 * extension the entry reader does not read): bytes the leader never writes for plain data.
 */
function refusedEnvelope(ts: number): Record<string, unknown> {
  const message = { body: encoder.encode('"x"'), headers: { h: bom }, at: new Date(0) };
  return { ts, cmd: { op: "publish", queue: "q", message } };
}

Deno.test("entry reader: an entry it does not read is refused alike by a node with msgpackr's native extractor and one without", async () => {
  const packr = new Packr({ useRecords: false, moreTypes: false });
  const lone = Uint8Array.of(1, ...packr.pack(refusedEnvelope(1)));
  const { ts: _, ...bad } = refusedEnvelope(1);
  const good = publish({ a: "1" });
  const batch = Uint8Array.of(2, ...packr.pack([{ ts: 1 }, good, bad, good]));
  const here = (bytes: Uint8Array) => {
    try {
      return JSON.stringify(
        decodeEntry(bytes).items,
        (_k, v) => v instanceof Uint8Array ? [...v] : v,
      );
    } catch (e) {
      return JSON.stringify({ refused: (e as Error).message });
    }
  };
  assert.throws(() => decodeEntry(lone), /Cannot decode/);
  assert.deepStrictEqual(decodeEntry(batch).items, [good, undefined, good]);
  for (const bytes of [lone, batch]) {
    assert.equal((await inChildWithoutFfi("entry", bytes)).trim(), here(bytes));
  }
});
