import assert from "node:assert/strict";
import { buildUi } from "./build.ts";

Deno.test("the committed dashboard bundle is the build of the current browser source", async () => {
  const dir = await Deno.makeTempDir({ prefix: "quorumq-ui-build-" });
  try {
    await buildUi(new URL(`file://${dir}/`));
    for (const file of ["live.js", "uPlot.min.css"]) {
      const built = await Deno.readTextFile(`${dir}/${file}`);
      const committed = await Deno.readTextFile(new URL(`./static/${file}`, import.meta.url));
      assert.ok(built === committed, `src/ui/static/${file} is stale: run deno task build:ui`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
