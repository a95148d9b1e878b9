import assert from "node:assert/strict";
import { MemberUrls, unwrapSnapshot, wrapSnapshot } from "./membership.ts";

const urls: [string, string][] = [["n1", "http://a:1"], ["n2", "http://b:2"]];

Deno.test("wrapSnapshot joins the parts once and unwrapSnapshot gives them back", async () => {
  const parts = [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])];
  const data = await wrapSnapshot(urls, parts, () => Promise.resolve());
  const back = unwrapSnapshot(data);
  assert.deepEqual(back.urls, urls);
  assert.deepEqual(back.app, new Uint8Array([1, 2, 3]));
  const single = await wrapSnapshot(urls, new Uint8Array([1, 2, 3]), () => Promise.resolve());
  assert.deepEqual(single, data);
});

Deno.test("wrapSnapshot paces a large copy: one pace per MiB, never one long copy", async () => {
  const big = new Uint8Array(18 << 20);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  let paces = 0;
  const data = await wrapSnapshot(urls, [big.subarray(0, 5 << 20), big.subarray(5 << 20)], () => {
    paces++;
    return Promise.resolve();
  });
  assert.ok(paces >= 16, `paced ${paces} times`);
  assert.deepEqual(unwrapSnapshot(data).app, big);
});

Deno.test("unwrapSnapshot refuses a short buffer and an unknown header version", () => {
  assert.throws(() => unwrapSnapshot(new Uint8Array(2)), /shorter than its header/);
  const header = new TextEncoder().encode(JSON.stringify({ v: 9, urls: [] }));
  const data = new Uint8Array(4 + header.length);
  new DataView(data.buffer).setUint32(0, header.length);
  data.set(header, 4);
  assert.throws(() => unwrapSnapshot(data), /unknown header version 9/);
});

Deno.test("unwrapSnapshot of data read on demand gives the same header and app bytes", async () => {
  const app = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  const bytes = await wrapSnapshot(urls, app, () => Promise.resolve(), [["n1", "abc"]]);
  const reads: [number, number][] = [];
  const onDemand = {
    byteLength: bytes.length,
    subarray(start: number, end: number) {
      reads.push([start, end]);
      return bytes.slice(start, end);
    },
  };
  const back = unwrapSnapshot(onDemand);
  assert.deepEqual(back.urls, urls);
  assert.deepEqual(back.incarnations, [["n1", "abc"]]);
  assert.equal(back.app.byteLength, app.length);
  assert.deepEqual(back.app.subarray(0, app.length), app);
  assert.deepEqual(back.app.subarray(990, 2000), app.subarray(990));
  assert.deepEqual(back.app.subarray(-5, 3), app.subarray(0, 3));
  // Only the header was read to unwrap it, and reads stay inside the data.
  assert.ok(reads.every(([a, b]) => a >= 0 && b <= bytes.length));
});

Deno.test("MemberUrls.version moves exactly when the URLs change", () => {
  const m = new MemberUrls(urls);
  const v0 = m.version;
  m.applyConfChange({ op: "promote", nodeId: "n2" });
  m.applyConfChange({ op: "identify", nodeId: "n1", context: "incarnation-1" });
  assert.equal(m.version, v0, "no URL changed");
  m.applyConfChange({ op: "add_learner", nodeId: "n3", context: "http://c:3" });
  assert.equal(m.version, v0 + 1);
  assert.equal(m.get("n3"), "http://c:3");
  m.applyConfChange({ op: "remove", nodeId: "n1" });
  assert.equal(m.version, v0 + 2);
  m.replace([["n9", "http://z:9"]]);
  assert.equal(m.version, v0 + 3);
  assert.deepEqual(m.entries(), [["n9", "http://z:9"]]);
});
