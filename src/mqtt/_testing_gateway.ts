/**
 * A gateway context over a fake API, for tests that drive one `MqttConnection` through a fake
 * byte stream. Folder-private, tests only.
 *
 * @module
 */

import { type Logger, silentLogger } from "../log.ts";
import type { ApiRequest } from "./broker_api.ts";
import type { GatewayContext } from "./gateway_context.ts";

/** What the fake API answers a request with. */
export type FakeAnswer = Promise<{ status: number; text: string }>;

/** An answer of `status` with `body` as JSON. */
export const answer = (status: number, body: unknown): FakeAnswer =>
  Promise.resolve({ status, text: JSON.stringify(body) });

/** A context whose API is `fetch`, with no claims held and no authentication. */
export function fakeContext(
  fetch: (r: ApiRequest) => FakeAnswer,
  log: Logger = silentLogger,
): GatewayContext {
  return {
    fetch,
    log,
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

/** Receives answered before the fake topic API stops answering (the tests' own bound). */
export const RECEIVES_OFFERED = 2_000;

/**
 * An API whose session's QoS 0 subscription answers each receive with 256 messages of `body`, up
 * to `RECEIVES_OFFERED` receives (counted in `api.receives`); what else a connection asks for at
 * CONNECT and SUBSCRIBE is answered as a fresh session's.
 */
export function fakeTopicApi(body: string) {
  const never = new Promise<{ status: number; text: string }>(() => {});
  const api = { receives: 0 };
  let seq = 0;
  const batch = () =>
    Array.from({ length: 256 }, () => ({
      seq: ++seq,
      body,
      headers: { "mqtt-qos": "0", "mqtt-payload": "text" },
      subject: "slow.x",
      attempt: 1,
      receipt: `r${seq}`,
    }));
  const fetch = (r: ApiRequest): FakeAnswer => {
    if (r.method === "GET" && r.path === "/v1/topics/mqtt") return answer(200, {});
    if (r.path.includes("/claims/")) return answer(200, { stamp: 1, present: false });
    if (r.path.includes("/retained")) return answer(200, { messages: [] });
    if (r.method === "PUT" && r.path.includes("/subscriptions/")) return answer(201, {});
    if (r.path.endsWith("-q0/receive")) {
      if (++api.receives > RECEIVES_OFFERED) return never;
      return answer(200, { messages: batch() });
    }
    return never;
  };
  return { api, fetch };
}

/** Waits until `count()` stays the same for 1 s, or passes `RECEIVES_OFFERED` (30 s at most). */
export async function untilStill(count: () => number): Promise<void> {
  let last = -1;
  let lastAt = Date.now();
  for (let i = 0; i < 600 && count() <= RECEIVES_OFFERED; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (count() !== last) {
      last = count();
      lastAt = Date.now();
    } else if (Date.now() - lastAt > 1000) break;
  }
}
