/**
 * Apply throughput of the broker state machine on one core: `deno bench test/bench/broker_bench.ts`
 * (`--allow-env` for msgpackr). Target: >= 200,000 single publishes applied per second.
 *
 * @module
 */

import {
  BrokerState,
  captureSnapshot,
  type Command,
  decodeEnvelope,
  encodeEnvelope,
} from "../../src/broker/mod.ts";

const BODY = new Uint8Array(256).fill(120);

function freshBroker(
  options: Record<string, unknown> = {},
): { b: BrokerState; next: () => number } {
  const b = new BrokerState();
  let index = 0;
  b.apply(++index, { ts: 1, cmd: { op: "queue_put", queue: "q", options } });
  return { b, next: () => ++index };
}

{
  const { b, next } = freshBroker();
  const cmd: Command = { op: "publish", queue: "q", message: { body: BODY } };
  Deno.bench("apply: publish 256 B, no id", { group: "publish", baseline: true }, () => {
    b.apply(next(), { ts: 2, cmd });
  });
}

{
  const { b, next } = freshBroker({ dedupWindowMs: 60_000 });
  let n = 0;
  Deno.bench("apply: publish 256 B with a unique id (dedup table)", { group: "publish" }, () => {
    b.apply(next(), {
      ts: 2,
      cmd: { op: "publish", queue: "q", message: { body: BODY, id: `m${n++}` } },
    });
  });
}

{
  const { b, next } = freshBroker();
  const data = encodeEnvelope({
    ts: 2,
    cmd: { op: "publish", queue: "q", message: { body: BODY } },
  });
  Deno.bench("decode + apply: publish 256 B from entry bytes", { group: "publish" }, () => {
    b.apply(next(), decodeEnvelope(data));
  });
}

{
  const { b, next } = freshBroker({ fifo: true });
  let n = 0;
  Deno.bench("apply: publish 256 B to a fifo queue, 100 groups", { group: "publish" }, () => {
    b.apply(next(), {
      ts: 2,
      cmd: { op: "publish", queue: "q", message: { body: BODY, group: `g${n++ % 100}` } },
    });
  });
}

{
  const { b, next } = freshBroker();
  const pub: Command = { op: "publish", queue: "q", message: { body: BODY } };
  Deno.bench("apply: publish + receive(1) + ack (3 entries)", { group: "cycle" }, () => {
    b.apply(next(), { ts: 2, cmd: pub });
    const r = b.apply(next(), { ts: 2, cmd: { op: "receive", queue: "q", max: 1 } });
    if (!r.ok || !("messages" in r)) throw new Error("Cannot receive in the bench");
    b.apply(next(), { ts: 2, cmd: { op: "ack", queue: "q", receipts: [r.messages[0].receipt] } });
  });
}

{
  const { b, next } = freshBroker();
  for (let i = 0; i < 100_000; i++) {
    b.apply(next(), { ts: 2, cmd: { op: "publish", queue: "q", message: { body: BODY } } });
  }
  Deno.bench(
    "captureSnapshot of 100k messages (apply is blocked this long)",
    { group: "snapshot" },
    () => {
      captureSnapshot(b);
    },
  );
  const view = captureSnapshot(b);
  Deno.bench("serialize of 100k messages (off the apply path)", { group: "snapshot" }, () => {
    view.serialize();
  });
}
