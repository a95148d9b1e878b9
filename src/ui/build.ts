/**
 * `deno task build:ui`: bundles the dashboard's browser module with uPlot (esbuild from npm)
 * into `src/ui/static/live.js` and copies uPlot's stylesheet beside it. The output is
 * committed, so nodes serve it without a build step; `src/ui/build_test.ts` checks it is the
 * build of the current source. `--out <dir>` writes elsewhere.
 *
 * @module
 */

import * as esbuild from "esbuild";
import { parseArgs } from "node:util";

const here = new URL(".", import.meta.url);
const root = new URL("../../", import.meta.url);

/** Builds into `outDir` (a file URL ending in `/`). */
export async function buildUi(outDir: URL): Promise<void> {
  await Deno.mkdir(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: [new URL("browser/live.js", here).pathname],
    bundle: true,
    format: "esm",
    target: "es2020",
    minify: true,
    legalComments: "none",
    outfile: new URL("live.js", outDir).pathname,
    absWorkingDir: root.pathname,
    logLevel: "warning",
  });
  await esbuild.stop();
  await Deno.copyFile(
    new URL("node_modules/uplot/dist/uPlot.min.css", root),
    new URL("uPlot.min.css", outDir),
  );
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { out: { type: "string" } } });
  const out = values.out === undefined
    ? new URL("static/", here)
    : new URL(`${values.out.replace(/\/$/, "")}/`, `file://${Deno.cwd()}/`);
  await buildUi(out);
  console.log(`build:ui: wrote ${out.pathname}live.js and uPlot.min.css`);
}
