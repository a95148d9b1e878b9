/**
 * `deno task build:client`: compiles the client (every `src/client/*.ts` but tests) with
 * TypeScript from npm into `dist/client/`: ES2022 modules (`.js`) and their
 * declarations (`.d.ts`), with an npm manifest, so `npm pack dist/client` makes a package for
 * Node 20+ and bundlers. The client uses only `fetch`, `AbortController`, timers and
 * `crypto.randomUUID`: no Deno API (the build refuses a file that names `Deno.`).
 * `--out <dir>` writes elsewhere. `dist/` is not committed.
 *
 * @module
 */

import ts from "typescript";
import { parseArgs } from "node:util";

/** The client's folder (this program lives outside it: src/client uses no Deno API). */
const here = new URL("./client/", import.meta.url);

/** The package's name and version in the npm registry's sense. */
export const PACKAGE = { name: "@quorumq/client", version: "0.1.0" };

/** The client's source files, without tests. */
export async function clientSources(): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(here)) {
    if (!e.isFile || !e.name.endsWith(".ts") || e.name.endsWith("_test.ts")) continue;
    out.push(new URL(e.name, here).pathname);
  }
  return out.sort();
}

/** Compiles into `outDir`; throws with every diagnostic when TypeScript reports one. */
export async function buildClient(outDir: string): Promise<void> {
  const files = await clientSources();
  for (const f of files) {
    if (/\bDeno\./.test(await Deno.readTextFile(f))) {
      throw new Error(`Cannot build the client: ${f} uses the Deno namespace`);
    }
  }
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
    declaration: true,
    strict: true,
    allowImportingTsExtensions: true,
    rewriteRelativeImportExtensions: true,
    outDir,
    rootDir: here.pathname,
    skipLibCheck: true,
    types: [],
  });
  const emitted = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0) {
    const host = {
      getCanonicalFileName: (f: string) => f,
      getCurrentDirectory: () => Deno.cwd(),
      getNewLine: () => "\n",
    };
    throw new Error(ts.formatDiagnostics(diagnostics, host));
  }
  await rewriteDeclarationImports(outDir);
  await Deno.writeTextFile(`${outDir}/package.json`, JSON.stringify(packageJson(), null, 2) + "\n");
  await Deno.writeTextFile(
    `${outDir}/README.md`,
    `# ${PACKAGE.name}\n\nThe quorumq client for Node 20+, browsers and edge runtimes ` +
      `(fetch only).\n\n\`\`\`js\nimport { Client } from "${PACKAGE.name}";\n` +
      `const client = new Client({ nodes: ["http://127.0.0.1:8080"] });\n` +
      `await client.publish("jobs", { body: { task: 1 } });\n\`\`\`\n`,
  );
}

/** TypeScript rewrites relative `.ts` imports to `.js` in code, not in declarations: do it there. */
async function rewriteDeclarationImports(outDir: string): Promise<void> {
  for await (const e of Deno.readDir(outDir)) {
    if (!e.name.endsWith(".d.ts")) continue;
    const path = `${outDir}/${e.name}`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replace(/(["']\.\.?\/[^"']+)\.ts(["'])/g, "$1.js$2"));
  }
}

function packageJson() {
  return {
    ...PACKAGE,
    description: "Client for quorumq, a Raft-replicated message broker (HTTP API v1)",
    type: "module",
    main: "./mod.js",
    types: "./mod.d.ts",
    exports: { ".": { types: "./mod.d.ts", import: "./mod.js" } },
    files: ["*.js", "*.d.ts", "README.md"],
    engines: { node: ">=20" },
    sideEffects: false,
    license: "MIT",
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { out: { type: "string" } } });
  const out = values.out ?? new URL("../dist/client", import.meta.url).pathname;
  await Deno.mkdir(out, { recursive: true });
  await buildClient(out);
  console.log(`build:client: wrote ${out} (npm pack ${out})`);
}
