/**
 * `mq --ca <pem>` (env `QUORUMQ_CA`): nodes on TLS with a private CA (the cluster's, docs/tls.md).
 * Deno reads extra CAs through `Deno.createHttpClient({ caCerts })`, which both `fetch` and its
 * `WebSocket` take as `client`; the client gets them as its `fetch` and stream `dial` options, so
 * the client itself stays free of runtime APIs (it runs in Node, browsers and Workers too).
 *
 * @module
 */

import type { StreamDial, StreamSocket } from "../client/mod.ts";

/** `fetch` and the stream's socket, trusting `caPem` besides the system's store. */
export interface Trust {
  readonly fetch: typeof fetch;
  readonly dial: StreamDial;
  close(): void;
}

export function trustCa(caPem: string): Trust {
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  return {
    fetch: (input, init) => fetch(input, { ...init, client }),
    // Deno's WebSocket takes `{ client }` in place of the protocols (a Deno extension).
    dial: (url) => new WebSocket(url, { client } as never) as unknown as StreamSocket,
    close: () => client.close(),
  };
}
