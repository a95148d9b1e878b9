/**
 * The tidy check (TigerBeetle's `tidy.zig` in spirit): rules about the tree itself, read-only,
 * run with every other test. Each rule runs over this repository (with the allow-lists below,
 * each entry saying why) and over a small planted tree in a temp dir, to show it fires.
 * The rules are in `test/tidy/rules.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ERROR_CLASSES } from "../src/client/mod.ts";
import { BROKER_REASON_PROBLEMS, PROBLEMS } from "../src/http/mod.ts";
import {
  clientClasses,
  edgePortable,
  type ErrorNames,
  errorTable,
  layers,
  modImports,
  privateImports,
  references,
  sizes,
  testHelperNames,
  valueCycles,
} from "./tidy/rules.ts";
import { readTree, type Tree } from "./tidy/tree.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Value-import cycles we know of, and why they stay for now. */
const CYCLES_ALLOWED = new Map<string, string>();

/** Files that may be imported past their folder's mod.ts, and why. */
const MOD_BYPASS_ALLOWED = new Map([
  [
    "src/client/deadlines.ts",
    "one timer for many deadlines, the client's and a forwarding follower's (src/http/forward.ts); " +
    "src/client/mod.ts is the client's public API, which this helper is not part of; it imports nothing",
  ],
  [
    "src/http/problems.ts",
    "the edge gateway answers with the node's own problem registry; src/http/mod.ts reaches " +
    "Deno's server, which the gateway may not use, and problems.ts imports only types",
  ],
  [
    "src/http/fast_response.ts",
    "a JSON answer in the runtime's fast form (Deno's; elsewhere the constructor), for the node's " +
    "answers and the edge gateway's; src/http/mod.ts reaches Deno's server; it imports nothing",
  ],
  [
    "src/http/stream_protocol.ts",
    "the stream's constants, shared by the node's frames and the edge gateway; src/http/mod.ts " +
    "reaches Deno's server and msgpackr, which the gateway may not use; it imports nothing",
  ],
  [
    "cluster/transport/dial.ts",
    "the nodes' RFC 6455 client with TCP_NODELAY is also the client's stream socket in Deno " +
    "(src/client/deno/mod.ts, loaded by the client itself there); cluster/transport/mod.ts " +
    "would bring the links' transport and msgpackr into every Deno program using the client",
  ],
  [
    "src/http/cors.ts",
    "CORS of the API, shared by a node's app, its options (config.ts) and the edge gateway, " +
    "which may not import src/http/mod.ts (Deno's server); it imports only Hono",
  ],
]);

/** Files the edge gateway reaches that name a runtime's API, and why that is safe. */
const EDGE_RUNTIME_ALLOWED = new Map<string, string>([
  [
    "src/client/default_dial.ts",
    "feature detection only: it asks whether the global Deno has connect, and where it has not " +
    "(a Worker) it dials with new WebSocket, as the gateway's runtimes all can",
  ],
]);

/** Files over 500 lines and functions over 80 (`path:name`), and why. */
const SIZES_ALLOWED = new Map([
  [
    "src/config.ts",
    "the one options table that flags, environment names, file keys and --help come from: ~9 " +
    "lines per option, 25 options; the TLS and secret checks are in config_tls.ts already",
  ],
  [
    "test/e2e/contract_input.ts:inputSteps",
    "a table of bad inputs against one real node or gateway, shared by its t.steps",
  ],
  [
    "test/e2e/contract.ts:queueWalk",
    "the queue API walked in order against one real cluster; each call depends on the last",
  ],
]);

/** File names that stand for any file in the docs and comments, not references to one. */
const PLACEHOLDERS = new Set([
  "x.ts",
  "x_test.ts",
  "_name.ts",
  "_private.ts",
  "errors.json", // nats-server's error registry, named as the model for ours
  "auth.json", // the tokens file an operator writes (docs/operations.md), mounted by deploy/
]);

const ERROR_NAMES: ErrorNames = {
  problems: PROBLEMS,
  reasons: BROKER_REASON_PROBLEMS,
  classes: ERROR_CLASSES,
};

let repo: Promise<Tree> | undefined;
const tree = () => repo ??= readTree(ROOT);

Deno.test("tidy: cluster/ never imports src/; the Raft core and the broker do no I/O", async () => {
  assert.deepEqual(layers(await tree()), []);
});

Deno.test("tidy: no file imports another folder's _private.ts", async () => {
  assert.deepEqual(privateImports(await tree()), []);
});

Deno.test("tidy: imports into another folder go through its mod.ts", async () => {
  assert.deepEqual(modImports(await tree(), MOD_BYPASS_ALLOWED), []);
});

Deno.test("tidy: all that src/edge reaches runs in Deno and in a Worker (no runtime API)", async () => {
  assert.deepEqual(edgePortable(await tree(), EDGE_RUNTIME_ALLOWED), []);
});

Deno.test("tidy: test helpers in cluster/ and src/ follow one naming scheme", async () => {
  assert.deepEqual(testHelperNames(await tree()), []);
});

Deno.test("tidy: no value-import cycle beyond the allowed ones", async () => {
  assert.deepEqual(valueCycles(await tree(), CYCLES_ALLOWED), []);
});

Deno.test("tidy: every link and file named in docs and comments is in the repository", async () => {
  assert.deepEqual(references(await tree(), PLACEHOLDERS), []);
});

Deno.test("tidy: no function over 80 lines, no non-test file over 500, beyond the allowed", async () => {
  assert.deepEqual(sizes(await tree(), SIZES_ALLOWED), []);
});

Deno.test("tidy: every allow-list entry still names something (no stale excuses)", async () => {
  const t = await tree();
  const cycles = valueCycles(t).map((v) => v.replace("value-import cycle: ", ""));
  for (const name of CYCLES_ALLOWED.keys()) assert.ok(cycles.includes(name), `stale: ${name}`);
  const runtime = edgePortable(t);
  for (const path of EDGE_RUNTIME_ALLOWED.keys()) {
    assert.ok(runtime.some((v) => v.startsWith(`${path}:`)), `stale edge allowance: ${path}`);
  }
  const over = sizes(t);
  for (const name of SIZES_ALLOWED.keys()) {
    const [path, fn] = name.split(/:(.*)/s);
    const hit = over.some((v) =>
      fn === undefined
        ? v.startsWith(`${path}: `)
        : v.startsWith(`${path}:`) && v.includes(` ${fn}: `)
    );
    assert.ok(hit, `stale size allowance: ${name}`);
  }
});

Deno.test("tidy: docs/http.md's error table lists exactly the registry's problem types", async () => {
  const markdown = await Deno.readTextFile(`${ROOT}docs/http.md`);
  assert.deepEqual(errorTable(markdown, ERROR_NAMES), []);
});

Deno.test("tidy: every problem type has a client error class", () => {
  assert.deepEqual(clientClasses(ERROR_NAMES), []);
});

// --- Each rule fires on a planted violation --------------------------------------------------

/** Writes `files` under a new temp dir, reads it back as a tree, removes the dir. */
async function planted(files: Record<string, string>): Promise<Tree> {
  const dir = await Deno.makeTempDir({ prefix: "quorumq_tidy_" });
  try {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(`${dir}/${path}`.replace(/\/[^/]+$/, ""), { recursive: true });
      await Deno.writeTextFile(`${dir}/${path}`, text);
    }
    return await readTree(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("tidy rule layers fires on cluster/ importing src/ and on I/O in a pure folder", async () => {
  const t = await planted({
    "src/broker/state.ts":
      "// Date.now() in a comment is fine\nexport const now = () => Date.now();\n",
    "src/broker/state_test.ts": "console.log(Deno.env.get('X'));\n",
    "cluster/raft/core.ts":
      'import { now } from "../../src/broker/state.ts";\nexport const n = now;\n',
  });
  assert.deepEqual(layers(t), [
    "cluster/raft/core.ts:1 imports src/broker/state.ts: cluster/ never imports src/",
    "src/broker/state.ts:2 uses Date.now in a pure folder",
  ]);
});

Deno.test("tidy rule layers fires on a clock or randomness taken without a call, too", async () => {
  const t = await planted({
    "src/broker/clock.ts": "export const sources = { wall: Date.now, mono: performance.now };\n" +
      "export const start = new Date();\nexport const pick = [Math.random][0];\n" +
      "export const id = crypto.randomUUID();\n" +
      "export const day = (ms: number) => new Date(ms).getUTCDay();\n",
  });
  assert.deepEqual(layers(t), [
    "src/broker/clock.ts:1 uses Date.now in a pure folder",
    "src/broker/clock.ts:1 uses performance.now in a pure folder",
    "src/broker/clock.ts:2 uses new Date() in a pure folder",
    "src/broker/clock.ts:3 uses Math.random in a pure folder",
    "src/broker/clock.ts:4 uses crypto. in a pure folder",
  ]);
});

Deno.test("tidy rule privateImports fires on another folder's _private.ts, tests included", async () => {
  const t = await planted({
    "a/_inner.ts": "export const x = 1;\n",
    "a/user.ts": 'import { x } from "./_inner.ts";\nexport const y = x;\n',
    "a/testing/helper.ts": 'import { x } from "../_inner.ts";\nexport const h = x;\n',
    "b/user_test.ts": 'import { x } from "../a/_inner.ts";\nconsole.log(x);\n',
  });
  assert.deepEqual(privateImports(t), [
    "b/user_test.ts:1 imports a/_inner.ts, private to its folder",
  ]);
});

Deno.test("tidy rule modImports fires on an import past another folder's mod.ts", async () => {
  const t = await planted({
    "a/mod.ts": 'export * from "./x.ts";\n',
    "a/x.ts": "export const x = 1;\n",
    "a/testing/helper.ts": 'export { x } from "../x.ts";\n',
    "b/ok.ts": 'import { x } from "../a/mod.ts";\nimport { h } from "../a/testing/helper.ts";\n',
    "b/bad.ts": 'import type { x } from "../a/x.ts";\n',
  });
  assert.deepEqual(modImports(t), ["b/bad.ts:1 imports a/x.ts; use a/mod.ts"]);
});

Deno.test("tidy rule edgePortable fires on runtime APIs anywhere src/edge reaches", async () => {
  const t = await planted({
    "src/edge/gateway.ts": 'import { up } from "./up.ts";\nimport { Hono } from "hono";\n' +
      'import type { T } from "../server/types.ts";\nexport const g = () => up(new Hono());\n' +
      "// Deno.serve in a comment is fine\nexport const s: T | string = 'Deno.env';\n",
    "src/edge/up.ts": 'import { read } from "../common/read.ts";\nexport const up = read;\n',
    "src/common/read.ts": 'import { readFileSync } from "node:fs";\n' +
      "export const read = (x: unknown) => [x, readFileSync, Deno.env.get('X')];\n",
    "src/edge/worker_bits.ts": "export const pair = () => new WebSocketPair();\n",
    "src/edge/gateway_test.ts": "Deno.serve(() => new Response());\n",
    "src/server/types.ts": "export type T = Deno.Conn;\n",
    "src/server/other.ts": "export const x = Deno.pid;\n",
  });
  assert.deepEqual(edgePortable(t), [
    "src/common/read.ts:1 imports node:fs, which the edge gateway's runtimes may lack",
    "src/common/read.ts:2 uses Deno, which the edge gateway's runtimes lack",
    "src/edge/worker_bits.ts:1 uses WebSocketPair, which the edge gateway's runtimes lack",
  ]);
});

Deno.test("tidy rule testHelperNames fires on a misnamed helper and on production using one", async () => {
  const t = await planted({
    "src/a/_fixture.ts": "export const f = 1;\n",
    "src/a/_testing.ts": "export const g = 1;\n",
    "src/a/tool.ts": "if (import.meta.main) console.log(1);\nexport const t = 1;\n",
    "src/a/x_test.ts": 'import { f } from "./_fixture.ts";\nimport { g } from "./_testing.ts";\n' +
      'import { t } from "./tool.ts";\nconsole.log(f, g, t);\n',
    "src/a/prod.ts": 'import { g } from "./_testing.ts";\nexport const p = g;\n',
    "src/a/mod.ts": 'export { p } from "./prod.ts";\n',
  });
  assert.deepEqual(testHelperNames(t), [
    "src/a/_fixture.ts is imported only by tests: name it _testing*.ts or move it to testing/",
    "src/a/prod.ts imports the test helper src/a/_testing.ts",
  ]);
});

Deno.test("tidy rule valueCycles fires on a value cycle, not on a type-only one", async () => {
  const t = await planted({
    "p.ts": 'import { q } from "./q.ts";\nexport const p = () => q;\n',
    "q.ts": 'import {\n  p,\n} from "./p.ts";\nexport const q = () => p;\n',
    "r.ts": 'import type { S } from "./s.ts";\nexport type R = S;\n',
    "s.ts": 'import { type R } from "./r.ts";\nexport type S = R;\n',
  });
  assert.deepEqual(valueCycles(t), ["value-import cycle: p.ts -> q.ts"]);
  assert.deepEqual(valueCycles(t, new Map([["p.ts -> q.ts", "known"]])), []);
});

Deno.test("tidy rule references fires on links and names outside the repository", async () => {
  const t = await planted({
    "docs/a.md":
      "See [b](b.md), [gone](gone.md#x), [web](https://example.com/x.md), `src/m.ts`,\n" +
      "`../elsewhere/DESIGN.md`, `x_test.ts` and `/openapi.json`.\n",
    "docs/b.md": "Back to [a](a.md#top).\n",
    "src/m.ts":
      '// See docs/a.md and RELIABILITY.md.\nconst s = "not/a/comment.md";\nexport { s };\n' +
      "// Fixed for issue 11.\n",
  });
  assert.deepEqual(references(t, new Set(["x_test.ts"])), [
    "docs/a.md:1 links to gone.md#x, not in the repository",
    "docs/a.md:2 names ../elsewhere/DESIGN.md, not in the repository",
    "src/m.ts:1 names RELIABILITY.md, not in the repository",
    'src/m.ts:4 cites "issue 11", a tracker a clone does not have',
  ]);
});

Deno.test("tidy rule sizes fires on a long function and a long file, unless allowed", async () => {
  const body = (n: number) =>
    Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join("\n");
  const t = await planted({
    "long.ts": `export function long(): void {\n${body(79)}\n}\n`,
    "short.ts": `export const short = () => {\n${body(78)}\n};\n`,
    "big.ts": `${body(501).replaceAll("  const", "export const")}\n`,
    "big_test.ts": `${body(501)}\n`,
  });
  assert.deepEqual(sizes(t), [
    "big.ts: 501 lines (at most 500)",
    "long.ts:1 long: 81 lines (at most 80)",
  ]);
  assert.deepEqual(sizes(t, new Map([["big.ts", "why"], ["long.ts:long", "why"]])), []);
});

Deno.test("tidy rule errorTable fires on a missing, an extra or a wrong row", () => {
  const names: ErrorNames = {
    problems: { a_b: { status: 400 }, c: { status: 409 } },
    reasons: { c_aborted: "c" },
    classes: { a_b: { name: "AB" }, c: { name: "C" } },
  };
  const table = (rows: string) =>
    `# API\n\n## Errors\n\n| type | status | reason | class |\n| - | - | - | - |\n${rows}\n## Auth\n`;
  assert.deepEqual(
    errorTable(table("| `a_b` | 400 | | `AB` |\n| `c` | 409 | `c_aborted` | `C` |\n"), names),
    [],
  );
  assert.deepEqual(errorTable(table("| `a_b` | 401 | | `AB` |\n| `d` | 500 | | `D` |\n"), names), [
    "docs error table lacks c",
    "docs: a_b is 400, not 401",
    "docs error table lists d, not in the registry",
  ]);
  assert.deepEqual(errorTable(table("| `a_b` | 400 | | `Ab` |\n| `c` | 409 | | `C` |\n"), names), [
    "docs: a_b is client class AB, not Ab",
    'docs: c comes from broker reason "c_aborted", not ""',
  ]);
});

Deno.test("tidy rule clientClasses fires on a problem type without a client class", () => {
  assert.deepEqual(
    clientClasses({
      problems: { a: { status: 400 }, b: { status: 404 } },
      reasons: {},
      classes: { a: { name: "A" } },
    }),
    ["problem type b has no client error class in ERROR_CLASSES"],
  );
});
