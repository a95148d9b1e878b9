/**
 * A gateway context over a fake API, for tests that drive one `MqttConnection` through a fake
 * byte stream. Folder-private, tests only.
 *
 * @module
 */

import { silentLogger } from "../log.ts";
import type { ApiRequest } from "./broker_api.ts";
import type { GatewayContext } from "./connection.ts";

/** What the fake API answers a request with. */
export type FakeAnswer = Promise<{ status: number; text: string }>;

/** An answer of `status` with `body` as JSON. */
export const answer = (status: number, body: unknown): FakeAnswer =>
  Promise.resolve({ status, text: JSON.stringify(body) });

/** A context whose API is `fetch`, with no claims held and no authentication. */
export function fakeContext(fetch: (r: ApiRequest) => FakeAnswer): GatewayContext {
  return {
    fetch,
    log: silentLogger,
    maxPacketBytes: 1 << 20,
    maxBodyBytes: 1 << 20,
    live: new Map(),
    holderPrefix: "n1/boot/",
    claims: {
      changes: () => 0,
      changedSince: () => [],
      claim: () => undefined,
      heldBy: () => [],
    },
    authenticate: undefined,
    refuseAnonymous: undefined,
  } satisfies GatewayContext;
}
