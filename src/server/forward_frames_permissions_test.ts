/**
 * Bytes from the network decode to the same value in every node, however it was started, and a
 * client's string is never altered. msgpackr reads strings with a native extractor when its
 * package root is imported in a process with `--allow-ffi` (`deno run -A`), in JavaScript
 * otherwise (`deno task start`), and the JavaScript reader drops a leading U+FEFF from a string
 * over 64 bytes: a forwarded header value was stored with or without it depending on how the
 * leader was started. deno.json now maps `msgpackr` to the pure-JS build, so no process loads
 * the extractor; each network decode path keeps such a string or refuses the bytes, alike here
 * (with ffi) and in a child without it (`_testing_network_child.ts`). Stream frames:
 * `src/http/stream_frames_permissions_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import * as msgpackr from "msgpackr";
import { FLOAT32_OPTIONS, Packr } from "msgpackr";
import type { Message } from "../../cluster/raft/mod.ts";
import { decodeFrame, encodeFrame } from "../../cluster/transport/mod.ts";
import { packValue, unpackValue } from "../client/mod.ts";
import { decodeForwardRequest, encodeForwardFrame } from "./forward_frames.ts";
import { runWithoutFfi } from "../../test/testing/child_without_ffi.ts";

const encoder = new TextEncoder();
const memo = "\uFEFF" + "wire transfer reference ".repeat(4);
assert.ok(encoder.encode(memo).length > 64);

type Path = "forward" | "transport" | "client";
const decoders: Record<Path, (bytes: Uint8Array) => unknown> = {
  forward: decodeForwardRequest,
  transport: decodeFrame,
  client: unpackValue,
};

const asJson = (v: unknown) =>
  JSON.parse(JSON.stringify(v, (_k, x) => x instanceof Uint8Array ? [...x] : x));

/** `{ native, value }` of decoding `bytes` as `path` in a child without --allow-ffi. */
async function inChildWithoutFfi(path: Path, bytes: Uint8Array): Promise<unknown> {
  const child = new URL("./_testing_network_child.ts", import.meta.url).pathname;
  return JSON.parse(await runWithoutFfi(child, [path], bytes));
}

/** The value decoded here, after checking the child without ffi decodes the same. */
async function decodedAlike(path: Path, bytes: Uint8Array): Promise<unknown> {
  const here = asJson(decoders[path](bytes));
  const there = await inChildWithoutFfi(path, bytes);
  assert.deepEqual(there, { native: false, value: here }, `${path}: another value without ffi`);
  return here;
}

Deno.test("network decode: no process loads msgpackr's native extractor, not even with -A", () => {
  assert.equal((msgpackr as Record<string, unknown>).isNativeAccelerationEnabled, false);
});

Deno.test("network decode: a forwarded header value led by U+FEFF reaches the leader unaltered", async () => {
  const body = encoder.encode(JSON.stringify({ memo }));
  const bytes = encodeForwardFrame({
    i: 7,
    m: "POST",
    p: "/v1/queues/q/messages",
    h: [["x-memo", memo], ["content-type", "application/json"]],
    b: new Uint8Array(body),
  });
  const got = await decodedAlike("forward", bytes) as { h: [string, string][]; b: number[] };
  assert.equal(got.h[0][1], memo);
  assert.deepEqual(got.b, [...body]);
});

Deno.test("network decode: a forward frame only msgpackr reads is read, unless it would lose a U+FEFF", () => {
  // A float32 (which no frame this code writes holds): the entry reader does not read it.
  const packr = new Packr({ useRecords: false, useFloat32: FLOAT32_OPTIONS.ALWAYS });
  const frame = (h: [string, string][]) =>
    new Uint8Array([1, ...packr.pack({ i: 8, m: "POST", p: "/v1/queues/q", h, x: 1.5 })]);
  assert.equal(decodeForwardRequest(frame([["x-a", "b"]]))?.h[0][1], "b");
  assert.equal(decodeForwardRequest(frame([["x-a", "b"], ["x-memo", memo]])), undefined);
});

function raftMessage(clusterId: string, data: Uint8Array): Message {
  return {
    type: "append",
    clusterId,
    from: "n1",
    to: "n2",
    term: 2,
    logTerm: 1,
    index: 9,
    commit: 8,
    entries: [{ term: 2, index: 10, kind: 0, data }],
  };
}

Deno.test("network decode: a link frame decodes alike, a client's U+FEFF in an entry's bytes untouched", async () => {
  const entry = new Packr({ useRecords: false }).pack({ memo, headers: { m: memo } });
  // A link frame's own strings are ids and names (never led by U+FEFF: cluster/transport/codec.ts);
  // a client's string lives inside an entry's bytes, opaque to the link.
  const passed = await decodedAlike("transport", encodeFrame([raftMessage("c1", entry)]));
  const p = passed as { ok: boolean; messages: { entries: { data: number[] }[] }[] };
  assert.ok(p.ok, JSON.stringify(passed).slice(0, 200));
  assert.deepEqual(p.messages[0].entries[0].data, [...entry]);
});

Deno.test("network decode: the client reads a string led by U+FEFF unaltered", async () => {
  const bytes = packValue({ t: "push", i: 1, j: JSON.stringify({ memo }), memo });
  const got = await decodedAlike("client", bytes) as { memo: string };
  assert.equal(got.memo, memo);
});

Deno.test("network decode: no module of the node imports msgpackr's package root", async () => {
  const found: string[] = [];
  const walk = async (dir: URL, depth: number) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory && depth < 8) await walk(new URL(`${e.name}/`, dir), depth + 1);
      else if (e.isFile && e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(new URL(e.name, dir));
        if (/from "(msgpackr-native|npm:msgpackr[^"/]*)"/.test(text)) found.push(e.name);
      }
    }
  };
  await walk(new URL("../", import.meta.url), 0);
  await walk(new URL("../../cluster/", import.meta.url), 0);
  assert.deepEqual(found, []);
});
