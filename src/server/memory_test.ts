import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { IdleCollector, MALLOC_TUNABLES, V8_FLAGS } from "./memory.ts";

function collector(quietChecks = 2, minEntries = 100) {
  const s = { index: 0, collections: 0 };
  const c = new IdleCollector({
    appliedIndex: () => s.index,
    collect: () => s.collections++,
    quietChecks,
    minEntries,
  });
  return { s, c };
}

Deno.test("IdleCollector collects once when the applied index stands still after work", () => {
  const { s, c } = collector();
  s.index = 500;
  assert.equal(c.check(), false); // busy
  assert.equal(c.check(), false); // quiet once
  assert.equal(c.check(), true); // quiet twice: collect
  for (let i = 0; i < 10; i++) assert.equal(c.check(), false); // and not again while quiet
  assert.equal(s.collections, 1);
});

Deno.test("IdleCollector waits for a snapshot under way to end", () => {
  const s = { index: 0, collections: 0, snapshotting: true };
  const c = new IdleCollector({
    appliedIndex: () => s.index,
    busy: () => s.snapshotting,
    collect: () => s.collections++,
    quietChecks: 2,
    minEntries: 100,
  });
  s.index = 500;
  for (let i = 0; i < 10; i++) assert.equal(c.check(), false);
  s.snapshotting = false;
  assert.equal(c.check(), false);
  assert.equal(c.check(), true);
  assert.equal(s.collections, 1);
});

Deno.test("IdleCollector leaves a busy node alone", () => {
  const { s, c } = collector();
  for (let i = 0; i < 50; i++) {
    s.index += 1000;
    assert.equal(c.check(), false);
  }
  assert.equal(s.collections, 0);
});

Deno.test("IdleCollector does not collect after too little work", () => {
  const { s, c } = collector(2, 100);
  s.index = 99;
  for (let i = 0; i < 5; i++) c.check();
  assert.equal(s.collections, 0);
  s.index = 150; // 150 since the start: enough
  for (let i = 0; i < 5; i++) c.check();
  assert.equal(s.collections, 1);
});

Deno.test("IdleCollector counts a restore to an older index as work", () => {
  const { s, c } = collector(1, 100);
  s.index = 1000;
  c.check();
  c.check();
  assert.equal(s.collections, 1);
  s.index = 200;
  c.check();
  c.check();
  assert.equal(s.collections, 2);
});

Deno.test("every launch command sets the node's V8 flags and the allocator's tunables", async () => {
  const root = new URL("../../", import.meta.url);
  const read = (path: string) => Deno.readTextFile(new URL(path, root));
  const start = JSON.parse(await read("deno.json")).tasks.start as string;
  assert.ok(start.startsWith(`GLIBC_TUNABLES=${MALLOC_TUNABLES} deno run --v8-flags=${V8_FLAGS} `));
  for (const path of ["deploy/Dockerfile", "deploy/systemd/quorumq@.service"]) {
    const text = await read(path);
    assert.ok(text.includes(`GLIBC_TUNABLES=${MALLOC_TUNABLES}`), `${path}: no GLIBC_TUNABLES`);
    assert.ok(
      text.includes(`"--v8-flags=${V8_FLAGS}"`) || text.includes(` --v8-flags=${V8_FLAGS} `),
      `${path}: not --v8-flags=${V8_FLAGS}`,
    );
  }
  const k8s = await read("deploy/kubernetes/statefulset.yaml");
  // Parsed, not matched as text: `deno fmt` may lay the env entry out on several lines.
  const env = JSON.stringify(parseAllDocuments(k8s).map((d) => d.toJSON()));
  assert.ok(env.includes(JSON.stringify({ name: "GLIBC_TUNABLES", value: MALLOC_TUNABLES })));
  assert.ok(k8s.includes(` --v8-flags=${V8_FLAGS} `));
});
