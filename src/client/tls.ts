/**
 * A custom CA for the client (`caCerts`): nodes on TLS with certificates from a private CA (the
 * cluster's) are trusted without touching the system's store. Where the runtime allows it: Deno,
 * through `createHttpClient({ caCerts })` of the `Deno` global for `fetch` and for the stream's WebSocket. Node.js
 * reads extra CAs only at start (`NODE_EXTRA_CA_CERTS=ca.pem`) and browsers only from the system,
 * so there the option is refused with that advice.
 *
 * @module
 */

import type { StreamSocket } from "./stream.ts";

/** `fetch` and the stream's WebSocket, trusting the given CA certificates too. */
export interface TrustingIo {
  readonly fetch: typeof fetch;
  webSocket(url: string): StreamSocket;
  close(): void;
}

interface DenoHttp {
  createHttpClient(options: { caCerts: string[] }): { close(): void };
}

/** Throws where the runtime cannot take a CA at run time (see the module comment). */
export function trustCaCerts(caCerts: readonly string[]): TrustingIo {
  const deno = (globalThis as { Deno?: Partial<DenoHttp> }).Deno;
  if (typeof deno?.createHttpClient !== "function") {
    throw new Error(
      "The client option caCerts needs Deno (its createHttpClient). In Node.js start the " +
        "process with NODE_EXTRA_CA_CERTS=<ca.pem>; browsers trust the system's certificates",
    );
  }
  const client = deno.createHttpClient({ caCerts: [...caCerts] });
  return {
    fetch: (input, init) => fetch(input, { ...init, client } as unknown as RequestInit),
    // Deno's WebSocket takes `{ client }` as its second argument (a Deno extension).
    webSocket: (url) =>
      new WebSocket(url, { client } as unknown as string[]) as unknown as StreamSocket,
    close: () => client.close(),
  };
}
