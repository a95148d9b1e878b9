/**
 * The npm package of the client: `deno task build:client`'s output packed with `npm pack`,
 * installed from the tarball into a scratch Node project, type-checked there by TypeScript as
 * a Node user would, and run under Node against a real node. Skipped, saying why, without
 * `node` and `npm` on the PATH.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Nodes } from "./nodes.ts";

const BUILD = new URL("../../src/build_client.ts", import.meta.url).pathname;
const PACKAGE = { name: "@quorumq/client" };
const TSC = new URL("../../node_modules/typescript/bin/tsc", import.meta.url).pathname;

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed:\n${text}${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

async function missingTools(): Promise<string | undefined> {
  for (const tool of ["node", "npm"]) {
    try {
      await run(tool, ["--version"], Deno.cwd());
    } catch {
      return `${tool} is not on the PATH`;
    }
  }
  return undefined;
}

const missing = await missingTools();
if (missing !== undefined) console.log(`client_npm_test: skipped: ${missing}`);

/** What the scratch project runs: every call kind, against the node at argv[2]. */
const SCRIPT = `
import { Client, QueueNotFound } from "${PACKAGE.name}";
const client = new Client({ nodes: [process.argv[2]] });
await client.createQueue("npm-jobs");
await client.publishBatch("npm-jobs", [{ id: "a", body: { n: 1 } }, { id: "b", body: "two" }]);
const peeked = await client.peek("npm-jobs");
const got = await client.receive("npm-jobs", { max: 1 });
await client.ack("npm-jobs", got.map((m) => m.receipt));
const purged = await client.purge("npm-jobs");
let missing = "";
try { await client.getQueue("nope"); } catch (e) { missing = e instanceof QueueNotFound ? e.type : String(e); }
console.log(JSON.stringify({
  peeked: peeked.messages.map((m) => m.id),
  received: got.map((m) => m.body),
  purged,
  missing,
  deno: typeof globalThis.Deno,
}));
`;

/** Type-checks a use of the package's declarations the way a Node TypeScript project would. */
const TYPED = `
import { Client, type PeekResult } from "${PACKAGE.name}";
const client = new Client({ nodes: ["http://127.0.0.1:1"] });
export const page: Promise<PeekResult> = client.peek("q", { limit: 5 });
// @ts-expect-error: a queue name is a string
client.purge(42);
`;

Deno.test({
  name: "client npm package: packed, installed from the tarball, typed and run under Node",
  ignore: missing !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "quorumq-npm-" });
    const nodes = await Nodes.start({ count: 1, storage: "memory" });
    try {
      await run(Deno.execPath(), ["run", "-A", BUILD, "--out", `${dir}/pkg`], dir);
      const tarball = (await run("npm", ["pack", `${dir}/pkg`, "--pack-destination", dir], dir))
        .trim().split("\n").at(-1)!;
      assert.match(tarball, /^quorumq-client-.*\.tgz$/);
      const project = `${dir}/project`;
      await Deno.mkdir(project);
      await Deno.writeTextFile(`${project}/package.json`, '{"name":"scratch","type":"module"}');
      await run(
        "npm",
        ["install", "--offline", "--no-audit", "--no-fund", `${dir}/${tarball}`],
        project,
      );
      await Deno.writeTextFile(`${project}/run.mjs`, SCRIPT);
      const answer = JSON.parse(await run("node", ["run.mjs", nodes.url("n1")], project));
      assert.deepEqual(answer, {
        peeked: ["a", "b"],
        received: [{ n: 1 }],
        purged: 1,
        missing: "queue_not_found",
        deno: "undefined",
      });
      await Deno.writeTextFile(`${project}/typed.ts`, TYPED);
      await run("node", [
        TSC,
        "--noEmit",
        "--strict",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--target",
        "es2022",
        "--lib",
        "es2022,dom",
        "typed.ts",
      ], project);
    } finally {
      await nodes.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
