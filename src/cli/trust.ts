/**
 * `mq --ca <pem>` (env `QUORUMQ_CA`): nodes on TLS with a private CA (the cluster's, docs/tls.md).
 * Deno reads extra CAs for `fetch` through `Deno.createHttpClient({ caCerts })`, and the stream's
 * socket is the client's Deno dial (TCP_NODELAY) given the same CA; the client gets them as its
 * `fetch` and stream `dial` options, so the client itself stays free of runtime APIs (it runs in
 * Node, browsers and Workers too).
 *
 * @module
 */

import type { StreamDial } from "../client/mod.ts";
import { noDelayDial } from "../client/deno/mod.ts";

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
    // Not Deno's WebSocket (it takes `{ client }` too), which clears TCP_NODELAY.
    dial: noDelayDial(caPem),
    close: () => client.close(),
  };
}
