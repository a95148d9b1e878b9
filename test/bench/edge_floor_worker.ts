/**
 * The Workers `edge_floor_bench.ts` runs in `workerd` beside the real gateway, each doing a part
 * of its work and answering the node's own publish answer (the `FLOOR_ANSWER` var) itself:
 * - `bare`: reads the body and answers: `workerd`'s own cost of a request;
 * - `gateway`: the gateway's code (`createGateway`) over a port that answers at once, in the
 *   request: what the gateway's code adds;
 * - `handoff`: the same, the call handed to the request that hosts the isolate's stream
 *   (`IsolateCalls`), whose upstream answers at once: what the hand-off adds.
 * The real gateway (`src/edge_targets/worker.ts`) adds the stream to the node.
 *
 * @module
 */

import {
  createGateway,
  type Gateway,
  type StreamAnswer,
  type Upstream,
} from "../../src/edge/mod.ts";
import { type HostContext, IsolateCalls } from "../../src/edge_targets/worker_host.ts";

type Env = { readonly FLOOR_MODE: string; readonly FLOOR_ANSWER: string };

/** The Worker's config names a Durable Object class; this one is never used. */
export class EdgeGateway {
  fetch(): Response {
    return new Response(null, { status: 404 });
  }
}

let made:
  | { mode: string; answer: StreamAnswer; gateway: Gateway; calls?: IsolateCalls }
  | undefined;

/** A port (and upstream) that answers every call with the node's answer, at once. */
function answering(answer: StreamAnswer) {
  return {
    node: "floor",
    url: "http://floor.invalid",
    gather: () => undefined,
    send: () => Promise.resolve({ ...answer, headers: { ...answer.headers } }),
    close: () => Promise.resolve(),
  };
}

export default {
  async fetch(request: Request, env: Env, ctx: HostContext): Promise<Response> {
    if (made === undefined) {
      const answer = JSON.parse(env.FLOOR_ANSWER) as StreamAnswer;
      const port = answering(answer);
      if (env.FLOOR_MODE === "handoff") {
        const calls = new IsolateCalls(() => port as unknown as Upstream);
        made = { mode: env.FLOOR_MODE, answer, calls, gateway: createGateway({ upstream: calls }) };
      } else {
        made = { mode: env.FLOOR_MODE, answer, gateway: createGateway({ upstream: port }) };
      }
    }
    if (made.mode === "bare") {
      await request.text();
      return new Response(made.answer.text, {
        status: made.answer.status,
        headers: made.answer.headers,
      });
    }
    made.calls?.host(ctx);
    return await made.gateway.fetch(request);
  },
};
