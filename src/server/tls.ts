/**
 * The node's certificates (docs/tls.md): the listener's (`--tls-cert`/`--tls-key`, or the peer
 * certificate when only `--peer-*` are given) and the peer credentials (`--peer-ca`,
 * `--peer-cert`, `--peer-key`), read from their PEM files and checked before use, at start and on
 * every SIGHUP. A reload that fails its checks changes nothing: the node keeps serving with what it
 * had and logs `tls_reload_failed` with the reason.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import {
  checkChain,
  loadPeerCredentials,
  type PeerCredentials,
  pemCertificates,
} from "../../cluster/transport/mod.ts";
import type { NodeConfig } from "../config.ts";

/** A certificate chain and its key, PEM, as `Deno.serve` and `Deno.listenTls` take them. */
export interface ListenerTls {
  readonly cert: string;
  readonly key: string;
  /** The leaf's subject and expiry, for the log. */
  readonly subject: string;
  readonly validTo: string;
}

/** Everything read from the certificate files at one moment. */
export interface LoadedTls {
  readonly listener: ListenerTls | undefined;
  readonly peer: PeerCredentials | undefined;
}

type TlsConfig = Pick<NodeConfig, "tls" | "peerTls">;

/**
 * Reads and checks the files of `config`. Throws a message naming the file at fault: an
 * unreadable file, a key that is not the certificate's, a peer certificate that does not chain to
 * the peer CA, or (with peer TLS) a listener certificate peers could not verify against it.
 */
export async function loadTls(config: TlsConfig, nowMs = Date.now()): Promise<LoadedTls> {
  const read = (what: string, path: string) =>
    Deno.readTextFile(path).catch((e) => {
      throw new Error(`cannot read ${what} ${path}: ${(e as Error).message}`);
    });
  let peer: PeerCredentials | undefined;
  if (config.peerTls !== undefined) {
    const files = config.peerTls;
    const [ca, cert, key] = await Promise.all([
      read("--peer-ca", files.caFile),
      read("--peer-cert", files.certFile),
      read("--peer-key", files.keyFile),
    ]);
    try {
      peer = loadPeerCredentials({ ca, cert, key }, nowMs);
    } catch (e) {
      throw new Error(`--peer-cert ${files.certFile}: ${(e as Error).message}`);
    }
  }
  let listener: ListenerTls | undefined;
  if (config.tls !== undefined) {
    const { certFile, keyFile } = config.tls;
    const [cert, key] = await Promise.all([
      read("--tls-cert", certFile),
      read("--tls-key", keyFile),
    ]);
    listener = checkListenerTls(cert, key, certFile);
    // One listener serves clients and peers: peers check it against the cluster CA only.
    if (peer !== undefined) {
      const check = checkChain(cert, peer.cas, nowMs);
      if (!check.ok) {
        throw new Error(
          `--tls-cert ${certFile} does not chain to --peer-ca (${check.detail}): peers dial ` +
            `this listener and trust only the cluster CA; use a certificate it signed`,
        );
      }
    }
  }
  return { listener, peer };
}

function checkListenerTls(cert: string, key: string, certFile: string): ListenerTls {
  const pems = pemCertificates(cert);
  if (pems.length === 0) throw new Error(`--tls-cert ${certFile} holds no PEM certificate`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pems[0]);
  } catch (e) {
    throw new Error(`--tls-cert ${certFile}: ${(e as Error).message}`);
  }
  let good: boolean;
  try {
    good = leaf.checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw new Error(`--tls-key: ${(e as Error).message}`);
  }
  if (!good) throw new Error(`--tls-key is not the private key of --tls-cert ${certFile}`);
  return { cert, key, subject: leaf.subject, validTo: leaf.validTo };
}

/**
 * A world-readable secret file is readable by every account on the machine: warn (do not refuse,
 * container runtimes mount secrets 0444 or 0644 by default; the directory may still be closed).
 */
export function secretFileWarning(path: string): string | undefined {
  let mode: number | null;
  try {
    mode = Deno.statSync(path).mode;
  } catch {
    return undefined;
  }
  if (mode === null || (mode & 0o004) === 0) return undefined;
  return `--secret-file ${path} is readable by every user (mode ${
    (mode & 0o777).toString(8)
  }); chmod 600 it or mount it with mode 0400`;
}
