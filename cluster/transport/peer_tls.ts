/**
 * Mutual authentication of nodes by certificates from one cluster CA (`--peer-ca`), for the peer
 * links and the forwarding channel.
 *
 * Why not TLS client certificates: `Deno.serve`, the one listener a node has for clients and
 * peers, cannot ask for a client certificate (its TLS options are a certificate and a key; only
 * the `node:tls` server can, and it cannot hand a connection to `Deno.serve`). So each side proves
 * its certificate where it can:
 * - the dialer checks the listener's certificate in the TLS handshake itself: `Deno.startTls` with
 *   the cluster CA as the only trust anchor, and the host name of the peer URL;
 * - the dialer proves its own certificate inside the link's opening handshake: it sends its chain
 *   and a signature, with the certificate's private key, over the listener's fresh nonce, its own
 *   id, the id it meant to reach and the cluster id (`certProofInput`). The listener checks the
 *   chain against the cluster CA (issuer, signature, validity dates, at most `CHAIN_MAX` links)
 *   and the signature with the leaf's public key.
 *
 * The nonce makes a proof good for one link only; the target id makes it useless at any other
 * node (a node that relays a challenge to a third node gets a proof naming itself, which the third
 * node refuses), and only holders of a CA-signed certificate for the dialed host name can be
 * dialed at all, so nothing outside the cluster CA sits in the middle. The cluster secret's HMAC
 * (`auth.ts`) stays a second factor on the same handshake.
 *
 * The credentials live in a `PeerTls` holder that `replace` swaps (SIGHUP): dials and checks after
 * it use the new ones, open links keep going.
 *
 * @module
 */

import { createPrivateKey, type KeyObject, sign, verify, X509Certificate } from "node:crypto";

/** Longest chain accepted from a peer: leaf, intermediates, up to a cluster CA. */
export const CHAIN_MAX = 5;
/** A chain larger than this (PEM text) is refused unread. */
export const CHAIN_MAX_CHARS = 32 * 1024;
/** Label of the certificate proof; part of every signed input. */
export const CERT_PROOF_PROTOCOL = "quorumq-peer-cert-v1";

/** The PEM text of each certificate in `text`, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** What a node proves and checks with: the cluster CA, its own chain and key. */
export interface PeerCredentials {
  /** The cluster CA certificates (PEM), the trust anchors of dials and of chain checks. */
  readonly caPems: readonly string[];
  readonly cas: readonly X509Certificate[];
  /** This node's chain (PEM), leaf first, as sent in every proof. */
  readonly chainPem: string;
  readonly leaf: X509Certificate;
  readonly key: KeyObject;
}

/**
 * Parses and checks PEM texts: at least one CA certificate, a leaf whose key is `keyPem`, and a
 * chain from it to the CA that is valid now. Throws a message fit for an operator otherwise.
 */
export function loadPeerCredentials(
  texts: { readonly ca: string; readonly cert: string; readonly key: string },
  nowMs = Date.now(),
): PeerCredentials {
  const caPems = pemCertificates(texts.ca);
  if (caPems.length === 0) throw new Error("the peer CA file holds no PEM certificate");
  const cas = caPems.map((pem) => new X509Certificate(pem));
  const chain = pemCertificates(texts.cert);
  if (chain.length === 0) throw new Error("the peer certificate file holds no PEM certificate");
  const chainPem = chain.join("\n");
  const leaf = new X509Certificate(chain[0]);
  const key = createPrivateKey(texts.key);
  if (!leaf.checkPrivateKey(key)) {
    throw new Error("the peer key is not the private key of the peer certificate");
  }
  const check = checkChain(chainPem, cas, nowMs);
  if (!check.ok) throw new Error(`the peer certificate does not chain to the CA: ${check.detail}`);
  return { caPems, cas, chainPem, leaf, key };
}

export type ChainCheck =
  | { readonly ok: true; readonly subject: string; readonly fingerprint: string }
  | { readonly ok: false; readonly detail: string };

/** Checks that `chainPem` (leaf first) leads to one of `cas`, every link valid at `nowMs`. */
export function checkChain(
  chainPem: string,
  cas: readonly X509Certificate[],
  nowMs = Date.now(),
): ChainCheck {
  if (chainPem.length > CHAIN_MAX_CHARS) return { ok: false, detail: "chain too large" };
  let certs: X509Certificate[];
  try {
    certs = pemCertificates(chainPem).map((pem) => new X509Certificate(pem));
  } catch (error) {
    return { ok: false, detail: `unreadable certificate: ${errorText(error)}` };
  }
  if (certs.length === 0) return { ok: false, detail: "no certificate" };
  if (certs.length > CHAIN_MAX) return { ok: false, detail: "chain too long" };
  const leaf = certs[0];
  let current = leaf;
  const rest = certs.slice(1);
  for (let depth = 0; depth < CHAIN_MAX; depth++) {
    const dates = validAt(current, nowMs);
    if (dates !== undefined) return { ok: false, detail: `${current.subject}: ${dates}` };
    const anchor = cas.find((ca) => issued(ca, current));
    if (anchor !== undefined) {
      const caDates = validAt(anchor, nowMs);
      if (caDates !== undefined) return { ok: false, detail: `the CA ${caDates}` };
      return { ok: true, subject: leaf.subject, fingerprint: leaf.fingerprint256 };
    }
    const next = rest.find((c) => c.ca && issued(c, current));
    if (next === undefined) {
      return { ok: false, detail: `${current.subject} is not signed by the cluster CA` };
    }
    current = next;
  }
  return { ok: false, detail: "chain too long" };
}

/** What the dialer signs: the listener's nonce and both identities (JSON, so ids cannot blur). */
export function certProofInput(h: {
  readonly serverNonce: string;
  readonly clientId: string;
  readonly serverId: string;
  readonly clusterId: string;
}): string {
  return JSON.stringify([CERT_PROOF_PROTOCOL, h.serverNonce, h.clientId, h.serverId, h.clusterId]);
}

/** The swappable credentials of one node, and the proofs made and checked with them. */
export class PeerTls {
  #credentials: PeerCredentials;

  constructor(credentials: PeerCredentials, private readonly now: () => number = Date.now) {
    this.#credentials = credentials;
  }

  /** Dials and checks from now on use `credentials`; open links are not touched. */
  replace(credentials: PeerCredentials): void {
    this.#credentials = credentials;
  }

  get credentials(): PeerCredentials {
    return this.#credentials;
  }

  /** The trust anchors for `Deno.startTls` when dialing a peer. */
  get caCerts(): string[] {
    return [...this.#credentials.caPems];
  }

  /** This node's chain and its signature over `input`, base64. */
  prove(input: string): { cert: string; sig: string } {
    const { chainPem, key } = this.#credentials;
    const sig = sign(digestFor(key), new TextEncoder().encode(input), key);
    return { cert: chainPem, sig: sig.toString("base64") };
  }

  /** Checks a peer's chain against the cluster CA and its signature over `input`. */
  check(cert: string, sig: string, input: string): ChainCheck {
    const chain = checkChain(cert, this.#credentials.cas, this.now());
    if (!chain.ok) return chain;
    try {
      const leaf = new X509Certificate(pemCertificates(cert)[0]);
      const good = verify(
        digestFor(leaf.publicKey),
        new TextEncoder().encode(input),
        leaf.publicKey,
        Uint8Array.from(atob(sig), (c) => c.charCodeAt(0)),
      );
      return good ? chain : { ok: false, detail: "the proof's signature does not verify" };
    } catch (error) {
      return { ok: false, detail: `the proof cannot be checked: ${errorText(error)}` };
    }
  }
}

/** Ed25519/Ed448 sign the message itself; RSA and ECDSA sign its SHA-256. */
function digestFor(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  return type === "ed25519" || type === "ed448" ? null : "sha256";
}

function issued(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Undefined when `cert` is valid at `nowMs`, else why not. */
function validAt(cert: X509Certificate, nowMs: number): string | undefined {
  if (nowMs < Date.parse(cert.validFrom)) return `not valid before ${cert.validFrom}`;
  if (nowMs > Date.parse(cert.validTo)) return `expired ${cert.validTo}`;
  return undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
