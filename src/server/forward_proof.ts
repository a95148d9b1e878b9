/**
 * The opening of a forwarding channel under peer TLS (docs/tls.md): the leader's end sends a
 * fresh nonce, the follower answers with its certificate chain and a signature over the nonce
 * (`cluster/transport/peer_tls.ts` checks both against the cluster CA), and only after the
 * leader's welcome does a request frame flow. The follower checked the leader's certificate in the
 * TLS handshake. Without peer TLS the channel opens with no handshake, as before.
 *
 * ```
 * follower                                   leader
 *   ◄── {t:"challenge", v:1, nonce: Ns} ─────────
 *   ── {t:"hello", v:1, clientId, cert, sig} ──►   checks chain and sig(forwardProofInput)
 *   ◄── {t:"welcome"} ───────────────────────────   (or close 4003, peer_refused logged)
 * ```
 *
 * @module
 */

import type { PeerTls } from "../../cluster/transport/mod.ts";

/** With peer TLS: a follower proves its certificate before its first request. */
export interface ForwardCheck {
  readonly clusterId: string;
  readonly peerTls: PeerTls;
}

/** Label of the forwarding channel's proof, distinct from the peer links' (`peer_tls.ts`). */
export const FORWARD_PROOF_PROTOCOL = "quorumq-forward-cert-v1";

export type ForwardHandshake =
  | { readonly t: "challenge"; readonly nonce: string }
  | { readonly t: "hello"; readonly clientId: string; readonly cert: string; readonly sig: string }
  | { readonly t: "welcome" };

/** What the follower signs: the leader's nonce, its own id and the cluster id. */
export function forwardProofInput(h: {
  readonly serverNonce: string;
  readonly clientId: string;
  readonly clusterId: string;
}): string {
  return JSON.stringify([FORWARD_PROOF_PROTOCOL, h.serverNonce, h.clientId, h.clusterId]);
}

/** Parses a handshake text frame; undefined when it is none of the three. */
export function parseForwardHandshake(text: string): ForwardHandshake | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const str = (k: string, max = 1024) => typeof r[k] === "string" && (r[k] as string).length <= max;
  if (r.t === "challenge" && str("nonce")) return { t: "challenge", nonce: r.nonce as string };
  if (r.t === "welcome") return { t: "welcome" };
  if (r.t === "hello" && str("clientId") && str("cert", 32 * 1024) && str("sig")) {
    return {
      t: "hello",
      clientId: r.clientId as string,
      cert: r.cert as string,
      sig: r.sig as string,
    };
  }
  return undefined;
}

/** The leader's end of the opening: a challenge when the socket opens, then the hello checked. */
export class ForwardGate {
  readonly #nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  #proved: boolean;

  constructor(
    private readonly check: ForwardCheck | undefined,
    private readonly refuse: (reason: string, details: Record<string, unknown>) => void,
  ) {
    this.#proved = check === undefined;
  }

  /** True once requests may flow (at once without peer TLS). */
  get proved(): boolean {
    return this.#proved;
  }

  /** The challenge to send when the socket opens, if the follower must prove itself. */
  challenge(): string | undefined {
    return this.#proved ? undefined : JSON.stringify({ t: "challenge", v: 1, nonce: this.#nonce });
  }

  /**
   * A frame before the proof: the follower's hello, checked against the cluster CA. Answers the
   * welcome to send, or undefined after calling `refuse` (anything else, a bad certificate).
   */
  hello(data: unknown): string | undefined {
    // Nothing but the hello before the certificate is proved: never a request.
    const h = typeof data === "string" ? parseForwardHandshake(data) : undefined;
    if (h?.t !== "hello") {
      this.refuse("no_certificate", {});
      return undefined;
    }
    const check = this.check!;
    const input = forwardProofInput({
      serverNonce: this.#nonce,
      clientId: h.clientId,
      clusterId: check.clusterId,
    });
    const result = check.peerTls.check(h.cert, h.sig, input);
    if (!result.ok) {
      this.refuse("bad_certificate", { clientId: h.clientId, detail: result.detail });
      return undefined;
    }
    this.#proved = true;
    return JSON.stringify({ t: "welcome" });
  }
}
