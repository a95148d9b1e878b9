/**
 * Requests of a node's own gateways (the MQTT gateway) that a follower forwards to the leader.
 * Such a request runs with rights its bearer token alone does not carry (the gateway checked the
 * MQTT topic itself; the session's claim and subscriptions are the gateway's bookkeeping), and
 * the gateway's own requests carry no token at all. In process the principal rides with the
 * request (`in_process.ts`); across the forward hop it cannot, so the gateway proves that it made
 * the request: an HMAC-SHA256, keyed with the cluster secret that every peer shares, over the
 * method, the path and query, the `Authorization` header and the body (a proof seen on the wire
 * cannot carry another body; it can only repeat its own request). Without the secret the proof
 * cannot be made, so a client on the network gains nothing by sending the header; the leader's
 * `GatewayAuth` turns a proven request into its principal.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Principal } from "./auth.ts";

/** The header that carries the proof (hex). */
export const GATEWAY_PROOF_HEADER = "x-quorumq-gateway-proof";

/** What a proof covers, and the key that makes it: one per cluster. */
export class GatewayProof {
  readonly #key: string;

  constructor(secret: string) {
    this.#key = `quorumq-gateway-proof-v1\n${secret}`;
  }

  /** The proof of a request: `path` from `/v1/...` on, with its query; `body` its text. */
  sign(
    method: string,
    path: string,
    authorization: string | undefined,
    body: string | Uint8Array,
  ): string {
    return createHmac("sha256", this.#key)
      .update(`${method}\n${path}\n${authorization ?? ""}\n`)
      .update(body)
      .digest("hex");
  }

  verify(
    method: string,
    path: string,
    authorization: string | undefined,
    body: string | Uint8Array,
    proof: string,
  ): boolean {
    const want = Buffer.from(this.sign(method, path, authorization, body), "hex");
    const got = Buffer.from(proof, "hex");
    return got.length === want.length && timingSafeEqual(got, want);
  }
}

/** Who a proven request runs as (auth on); `src/mqtt/gateway_auth.ts` builds the MQTT one. */
export interface GatewayAuth {
  readonly proof: GatewayProof;
  /**
   * The principal of a proven request: its token's widened as the gateway widens it, or the
   * gateway's own for the requests it makes without a token. Undefined: refused (401).
   */
  principal(
    method: string,
    path: string,
    authorization: string | undefined,
  ): Promise<Principal | undefined>;
}
