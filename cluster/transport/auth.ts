/**
 * The mutual HMAC challenge that opens every link, before any Raft message is accepted. The
 * shared cluster secret never crosses the wire: each side proves it knows the secret by a
 * HMAC-SHA-256 over the other side's fresh nonce.
 *
 * ```
 * dialer (client)                               listener (server)
 *   ── WebSocket upgrade GET /cluster/v1/link ──►
 *   ◄── {t:"challenge", v:1, nonce: Ns} ─────────
 *   ── {t:"hello", v:1, clientId, serverId, clusterId, nonce: Nc, url?,
 *       mac: HMAC(secret, ["quorumq-link-v1","client",Ns,clientId,serverId,clusterId])} ──►
 *                                               checks clusterId, serverId, clientId ≠ self, mac
 *   ◄── {t:"welcome", mac: HMAC(secret, ["quorumq-link-v1","server",Nc,Ns,clientId,serverId,clusterId])}
 * client checks the server's mac; only now do binary Raft frames flow (client → server).
 * ```
 *
 * The MAC input is a JSON array, so ids that contain separators cannot be confused. The role
 * label ("client"/"server") stops a proof from being reflected back to its maker. Handshake
 * frames are text frames; Raft frames are binary.
 *
 * A link is admitted by the secret and the cluster id, never by membership: a node that missed a
 * membership change must still hear a leader it does not know yet (docs/reliability.md item 11). `url` is the
 * dialer's advertised URL, which the listener dials back when it has no link to that id; it is
 * outside the MAC so older nodes still verify the hello, and it needs no protection of its own:
 * the dial-back is itself a link that must prove the secret and the dialer's id, so a forged URL
 * can only make it fail, which anyone on the path could do anyway.
 *
 * @module
 */

/** Label and version of the handshake, part of every MAC input. */
export const AUTH_PROTOCOL = "quorumq-link-v1";

/** First frame from the listener: a fresh random nonce. */
export interface Challenge {
  readonly t: "challenge";
  readonly v: 1;
  readonly nonce: string;
}

/** The dialer's answer: who it is, whom it meant to reach, and its proof. */
export interface Hello {
  readonly t: "hello";
  readonly v: 1;
  readonly clientId: string;
  readonly serverId: string;
  readonly clusterId: string;
  /** The dialer's own nonce, which the listener must sign back. */
  readonly nonce: string;
  readonly mac: string;
  /** The dialer's advertised base URL (http or https), if it has one. */
  readonly url?: string;
  /** With peer TLS: the dialer's certificate chain (PEM), leaf first (`peer_tls.ts`). */
  readonly cert?: string;
  /** With peer TLS: the leaf key's signature over `certProofInput`, base64. */
  readonly sig?: string;
}

/** The listener's proof that it, too, knows the secret. */
export interface Welcome {
  readonly t: "welcome";
  readonly mac: string;
}

export type Handshake = Challenge | Hello | Welcome;

/** Why a link was refused; logged as `peer_refused` and sent as the close reason. */
export type RefusalReason =
  | "bad_handshake"
  | "cluster_mismatch"
  | "wrong_server"
  | "same_id"
  | "bad_mac"
  | "bad_server_mac"
  | "handshake_timeout"
  | "no_certificate"
  | "bad_certificate";

/** Imports the shared secret once as a non-extractable HMAC-SHA-256 key. */
export function importSecret(secret: string): Promise<CryptoKey> {
  if (secret.length === 0) {
    throw new Error("Cannot start the transport: the cluster secret is empty");
  }
  return crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/** 32 random bytes, base64. */
export function newNonce(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(32)));
}

/** What the dialer signs: the listener's nonce and both identities. */
export function clientProofInput(h: {
  serverNonce: string;
  clientId: string;
  serverId: string;
  clusterId: string;
}): string {
  return JSON.stringify([
    AUTH_PROTOCOL,
    "client",
    h.serverNonce,
    h.clientId,
    h.serverId,
    h.clusterId,
  ]);
}

/** What the listener signs: the dialer's nonce, its own nonce and both identities. */
export function serverProofInput(h: {
  clientNonce: string;
  serverNonce: string;
  clientId: string;
  serverId: string;
  clusterId: string;
}): string {
  return JSON.stringify([
    AUTH_PROTOCOL,
    "server",
    h.clientNonce,
    h.serverNonce,
    h.clientId,
    h.serverId,
    h.clusterId,
  ]);
}

/** HMAC-SHA-256 of `input` under `key`, base64. */
export async function sign(key: CryptoKey, input: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input));
  return toBase64(new Uint8Array(mac));
}

/** Checks a base64 MAC in constant time (crypto.subtle.verify). False on malformed base64. */
export async function verify(key: CryptoKey, input: string, mac: string): Promise<boolean> {
  const bytes = fromBase64(mac);
  if (bytes === undefined) return false;
  return await crypto.subtle.verify("HMAC", key, bytes, new TextEncoder().encode(input));
}

/** Parses a handshake text frame; undefined when it is not one of the three shapes. */
export function parseHandshake(text: string): Handshake | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const str = (k: string) => typeof r[k] === "string" && (r[k] as string).length <= 1024;
  switch (r.t) {
    case "challenge":
      return r.v === 1 && str("nonce") ? (r as unknown as Challenge) : undefined;
    case "hello":
      return r.v === 1 && str("clientId") && str("serverId") && str("clusterId") && str("nonce") &&
          str("mac") && (r.url === undefined || (str("url") && isHttpUrl(r.url as string))) &&
          (r.cert === undefined || (typeof r.cert === "string" && r.cert.length <= 32 * 1024)) &&
          (r.sig === undefined || str("sig"))
        ? (r as unknown as Hello)
        : undefined;
    case "welcome":
      return str("mac") ? (r as unknown as Welcome) : undefined;
    default:
      return undefined;
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    const s = atob(text);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}
