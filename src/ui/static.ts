/**
 * `/ui/static/*`: the dashboard's stylesheet and its browser module with uPlot bundled in
 * (`deno task build:ui` writes `live.js` and copies uPlot's CSS; the built files are committed,
 * so a node serves them without a build step). Read from disk once, then kept in memory.
 *
 * @module
 */

import type { Hono } from "hono";
import type { UiEnv } from "./context.ts";

const FILES: Readonly<Record<string, string>> = {
  "ui.css": "text/css; charset=utf-8",
  "uPlot.min.css": "text/css; charset=utf-8",
  "live.js": "text/javascript; charset=utf-8",
};

export function staticRoutes(app: Hono<UiEnv>): void {
  const cache = new Map<string, Promise<Uint8Array>>();
  app.get("/static/:file", async (c) => {
    const file = c.req.param("file") ?? "";
    const type = FILES[file];
    if (type === undefined) return c.text("Not found", 404);
    let bytes = cache.get(file);
    if (bytes === undefined) {
      bytes = Deno.readFile(new URL(`./static/${file}`, import.meta.url));
      cache.set(file, bytes);
      bytes.catch(() => cache.delete(file)); // a failed read is tried again next time
    }
    return c.body((await bytes) as Uint8Array<ArrayBuffer>, 200, {
      "content-type": type,
      "cache-control": "no-cache",
    });
  });
}
