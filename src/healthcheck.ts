/**
 * The container health check (deploy/Dockerfile's HEALTHCHECK, deploy/compose.yaml): asks this
 * machine's node for `/healthz` and exits 0 when it answers 200, 1 otherwise. Liveness only: a
 * node that is up but has no leader or is still applying is healthy (readiness is `/readyz`).
 *
 * `deno run --allow-net --allow-env --unsafely-ignore-certificate-errors=127.0.0.1
 * src/healthcheck.ts [url]`. Without a URL it follows the node's own environment: the port of
 * `QUORUMQ_LISTEN` on 127.0.0.1, over https when `QUORUMQ_TLS_CERT` (or `QUORUMQ_PEER_CERT`) is set. The node's
 * certificate names the node, not 127.0.0.1, and the check asks only its own process and sends
 * nothing secret, so certificate errors are ignored for 127.0.0.1 alone (that flag).
 *
 * @module
 */

import { envName } from "./config.ts";

/** How long one check waits for the answer; Docker's own timeout is 5 s. */
const TIMEOUT_MS = 4_000;

/** This machine's node's `/healthz`, from its `--listen`, `--tls-cert` and `--peer-cert`. */
export function healthUrl(env: Readonly<Record<string, string | undefined>>): string {
  const listen = env[envName("listen")] ?? "127.0.0.1:8080";
  const colon = listen.lastIndexOf(":");
  let host = colon <= 0 ? "127.0.0.1" : listen.slice(0, colon);
  // A wildcard listener is reached on loopback.
  if (host === "0.0.0.0" || host === "::" || host === "[::]" || host === "") host = "127.0.0.1";
  const port = colon === -1 ? "8080" : listen.slice(colon + 1);
  // The listener is on TLS with --tls-cert, or with the peer certificate when only --peer-cert
  // is given (one listener for clients and peers, docs/tls.md).
  const tls = (env[envName("tls-cert")] ?? "") !== "" || (env[envName("peer-cert")] ?? "") !== "";
  return `${tls ? "https" : "http"}://${host}:${port}/healthz`;
}

async function main(): Promise<number> {
  const url = Deno.args[0] ?? healthUrl(Deno.env.toObject());
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await response.body?.cancel();
    if (response.status === 200) return 0;
    console.error(`healthcheck: ${url} answered ${response.status}`);
  } catch (error) {
    console.error(`healthcheck: ${url}: ${(error as Error)?.message ?? error}`);
  }
  return 1;
}

if (import.meta.main) Deno.exit(await main());
