/**
 * The TLS and secret options of `config.ts` (docs/tls.md): which certificate files go together,
 * the https:// peers peer TLS needs, MQTT over TLS, and `--secret-file`.
 *
 * @module
 */

import type { PeerSpec, PeerTlsFiles, ReadTextFile, TlsFiles } from "./config.ts";

/** The raw option values this file reads (a slice of config.ts's schema output). */
interface Raw {
  readonly secret?: string;
  readonly secretFile?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly peerCa?: string;
  readonly peerCert?: string;
  readonly peerKey?: string;
}
type ConfigError = { kind: "error"; message: string };

/**
 * The certificate options: `--tls-cert`/`--tls-key` together, the three `--peer-*` together. One
 * listener serves clients and peers, so with peer TLS it serves TLS too: with its own certificate
 * when `--tls-cert` is given (which must then chain to `--peer-ca`, checked at start), else with
 * the peer certificate.
 */
export function tlsOptions(raw: Raw):
  | { kind: "ok"; tls: TlsFiles | undefined; peerTls: PeerTlsFiles | undefined }
  | ConfigError {
  if ((raw.tlsCert === undefined) !== (raw.tlsKey === undefined)) {
    return {
      kind: "error",
      message: `Invalid option ${
        raw.tlsCert === undefined ? "--tls-cert (QUORUMQ_TLS_CERT)" : "--tls-key (QUORUMQ_TLS_KEY)"
      }: --tls-cert and --tls-key go together`,
    };
  }
  const peerGiven = [raw.peerCa, raw.peerCert, raw.peerKey];
  const missing = ["peer-ca", "peer-cert", "peer-key"].filter((_, i) => peerGiven[i] === undefined);
  if (missing.length > 0 && missing.length < 3) {
    return {
      kind: "error",
      message:
        `Invalid option --${missing[0]} (QUORUMQ_${missing[0].toUpperCase().replace("-", "_")}): ` +
        `--peer-ca, --peer-cert and --peer-key go together`,
    };
  }
  const peerTls = raw.peerCa !== undefined && raw.peerCert !== undefined &&
      raw.peerKey !== undefined
    ? { caFile: raw.peerCa, certFile: raw.peerCert, keyFile: raw.peerKey }
    : undefined;
  const tls = raw.tlsCert !== undefined && raw.tlsKey !== undefined
    ? { certFile: raw.tlsCert, keyFile: raw.tlsKey }
    : peerTls === undefined
    ? undefined
    : { certFile: peerTls.certFile, keyFile: peerTls.keyFile };
  return { kind: "ok", tls, peerTls };
}

/**
 * `--secret` or `--secret-file` (never both): a file keeps the secret out of the process list and
 * the environment. One trailing line end is dropped (editors add one); an empty secret is refused.
 */
export function readSecret(
  raw: Raw,
  readFile: ReadTextFile,
): string | undefined | ConfigError {
  if (raw.secretFile === undefined) return raw.secret;
  const name = "--secret-file (QUORUMQ_SECRET_FILE)";
  if (raw.secret !== undefined) {
    return { kind: "error", message: `Invalid option ${name}: give --secret or --secret-file` };
  }
  let text: string;
  try {
    text = readFile(raw.secretFile);
  } catch (error) {
    return {
      kind: "error",
      message: `Invalid option ${name}: cannot read it: ${
        error instanceof Error ? error.message : String(error)
      }`,
    };
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret.length === 0) {
    return { kind: "error", message: `Invalid option ${name}: the file is empty` };
  }
  return secret;
}

/** With peer TLS every peer URL and this node's own must be https://; an error if one is not. */
export function plainPeerUrl(
  peerTls: PeerTlsFiles | undefined,
  advertise: string,
  peers: readonly PeerSpec[],
): ConfigError | undefined {
  if (peerTls === undefined) return undefined;
  const plain = [advertise, ...peers.map((p) => p.url)].find((u) => !u.startsWith("https:"));
  if (plain === undefined) return undefined;
  return {
    kind: "error",
    message: `Invalid option --peers (QUORUMQ_PEERS): with --peer-cert every peer URL and ` +
      `--advertise must be https:// (got ${plain})`,
  };
}

/** `--mqtt-tls-listen`: a host:port, and a certificate for the listener to serve. */
export function mqttTlsOption(
  listen: { hostname: string; port: number } | string | undefined,
  tls: TlsFiles | undefined,
): { hostname: string; port: number } | undefined | ConfigError {
  if (listen === undefined) return undefined;
  if (typeof listen === "string" || tls === undefined) {
    return {
      kind: "error",
      message: `Invalid option --mqtt-tls-listen (QUORUMQ_MQTT_TLS_LISTEN): ${
        typeof listen === "string" ? listen : "needs --tls-cert and --tls-key (or --peer-cert)"
      }`,
    };
  }
  return listen;
}
