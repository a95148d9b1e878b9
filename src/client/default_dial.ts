/**
 * How the stream's socket is opened when the caller gives no `dial` (`TransportOptions.dial`).
 *
 * In Deno, the standard `WebSocket` clears TCP_NODELAY on the socket it dials (strace:
 * `setsockopt(TCP_NODELAY, 0)` after `connect`), so Nagle's algorithm holds a small request
 * written while the one before it is unacknowledged until the node's delayed ACK, 40 ms: a few
 * calls in flight crawl (64 in flight: 1.3k against 9.5k publishes/s, docs/client.md). So in Deno
 * the stream dials with the nodes' own RFC 6455 client, which sets TCP_NODELAY (`defaultDenoDial`
 * of `deno/mod.ts`: `noDelayDial`, or the `WebSocket` where a proxy in the environment applies);
 * everywhere else (Node, browsers, Workers set TCP_NODELAY themselves) with
 * `new WebSocket(url)`, as before.
 *
 * The client stays free of runtime APIs: this file only asks whether the global `Deno` has
 * `connect` (feature detection), and loads `deno/mod.ts` only then, on the first stream, by an
 * `import()` whose specifier is two joined strings. Deno reads that as the file (it is in the
 * program's module graph, as `deno info` shows: no read permission is asked); TypeScript does
 * not follow it, so the npm build (`src/build_client.ts`: this folder's files, the DOM's types)
 * neither compiles nor ships it, and in the package the import fails and the stream dials with
 * `WebSocket`. A bundler run over these sources (not the npm package) may include `deno/mod.ts`,
 * which then never runs outside Deno: no code path reaches it there.
 *
 * @module
 */

import { type StreamDial, webSocketDial } from "./stream.ts";

/** What `deno/mod.ts` exports that this file uses (its types stay out of the portable build). */
interface DenoDialModule {
  defaultDenoDial(): StreamDial;
}

/** The global `Deno`, as far as feature detection needs it (undefined outside Deno). */
function denoWithConnect(): boolean {
  const runtime = (globalThis as { Deno?: { connect?: unknown } }).Deno;
  return typeof runtime?.connect === "function";
}

let chosen: Promise<StreamDial> | undefined;

/** The dial a stream uses when the caller gave none: chosen once per process. */
export function defaultDial(): Promise<StreamDial> {
  return chosen ??= choose();
}

async function choose(): Promise<StreamDial> {
  if (!denoWithConnect()) return webSocketDial;
  try {
    // Two strings, joined: see the module doc. The comments keep bundlers of the npm package
    // from warning that they cannot follow it (they need not: it is for Deno).
    const module = await import(
      /* webpackIgnore: true */ /* @vite-ignore */ "./deno/" + "mod.ts"
    ) as DenoDialModule;
    return module.defaultDenoDial();
  } catch {
    // The npm package in Deno: the module is not there.
    return webSocketDial;
  }
}
