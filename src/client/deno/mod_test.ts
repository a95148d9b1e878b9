/**
 * The client's default dial in Deno: direct with TCP_NODELAY, except where Deno's `WebSocket`
 * would go through a proxy from the environment (the cases below are how Deno 2.9's `WebSocket`
 * behaved when tried: `ws:` takes HTTP_PROXY or ALL_PROXY, not HTTPS_PROXY; loopback is not
 * exempt; NO_PROXY exempts a host and the domains it names, with or without the leading dot).
 */
import assert from "node:assert/strict";
import { defaultDenoDial, proxied } from "./mod.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
const P = "http://proxy.example:3128";

Deno.test("proxied(): which URLs Deno's WebSocket would send through a proxy", () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ["ws://n1.example:8080/v1/stream", {}, false],
    ["ws://n1.example:8080/v1/stream", { HTTP_PROXY: P }, true],
    ["ws://n1.example:8080/v1/stream", { http_proxy: P }, true],
    ["ws://n1.example:8080/v1/stream", { HTTPS_PROXY: P }, false],
    ["ws://n1.example:8080/v1/stream", { ALL_PROXY: P }, true],
    ["wss://n1.example:8080/v1/stream", { HTTPS_PROXY: P }, true],
    ["wss://n1.example:8080/v1/stream", { HTTP_PROXY: P }, false],
    ["wss://n1.example:8080/v1/stream", { all_proxy: P }, true],
    ["ws://127.0.0.1:8080/v1/stream", { HTTP_PROXY: P }, true],
    ["ws://n1.example:8080/", { HTTP_PROXY: P, NO_PROXY: "n1.example" }, false],
    ["ws://n1.example:8080/", { HTTP_PROXY: P, NO_PROXY: "other, .example" }, false],
    ["ws://n1.example:8080/", { HTTP_PROXY: P, no_proxy: "example" }, false],
    ["ws://n1.example:8080/", { HTTP_PROXY: P, NO_PROXY: "*" }, false],
    ["ws://n1.example:8080/", { HTTP_PROXY: P, NO_PROXY: "n2.example,xample" }, true],
    ["ws://[::1]:8080/", { HTTP_PROXY: P, NO_PROXY: "::1" }, false],
    // A CIDR range is not read here: the WebSocket is used and decides by itself.
    ["ws://10.1.2.3:8080/", { HTTP_PROXY: P, NO_PROXY: "10.0.0.0/8" }, true],
    ["ws://n1.example:8080/", { HTTP_PROXY: "" }, false],
  ];
  for (const [url, vars, expected] of cases) {
    assert.equal(proxied(new URL(url), envOf(vars)), expected, `${url} ${JSON.stringify(vars)}`);
  }
});

/** Dials `url` and waits for the socket's close (the port refuses: nothing listens there). */
async function dialAndClose(dial: (url: string) => unknown, url: string): Promise<unknown> {
  const socket = dial(url) as { onclose: (() => void) | null; onerror?: unknown };
  await new Promise<void>((resolve) => {
    socket.onerror = () => {};
    socket.onclose = () => resolve();
  });
  return socket;
}

Deno.test("defaultDenoDial(): a proxied URL gets Deno's WebSocket, any other the direct dial", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // a port that refuses
  const url = `ws://127.0.0.1:${port}/v1/stream`;
  const viaProxy = defaultDenoDial(envOf({ HTTP_PROXY: `http://127.0.0.1:${port}` }));
  assert.ok(await dialAndClose(viaProxy, url) instanceof WebSocket);
  const direct = defaultDenoDial(envOf({}));
  assert.ok(!(await dialAndClose(direct, url) instanceof WebSocket));
});
