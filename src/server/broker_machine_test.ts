import assert from "node:assert/strict";
import { encodeEntry, packProposal, type Proposal, UNANSWERED } from "../broker/mod.ts";
import { BrokerMachine } from "./broker_machine.ts";

const pace = () => Promise.resolve();

function join(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("BrokerMachine's snapshot streamed part by part is the one it serializes", async () => {
  const m = new BrokerMachine();
  let index = 0;
  m.state.apply(++index, { ts: 1, cmd: { op: "queue_put", queue: "q", options: {} } });
  for (let k = 0; k < 3000; k += 50) {
    const messages = Array.from({ length: 50 }, (_, j) => ({
      id: `m${k + j}`,
      body: new Uint8Array(100).fill(j),
    }));
    m.state.apply(++index, { ts: 2, cmd: { op: "publish_batch", queue: "q", messages } });
  }
  const view = await m.snapshot(pace);
  const serialized = await view.serialize(pace);
  const streamed: Uint8Array[] = [];
  for await (const part of view.stream!(pace)) streamed.push(part.slice());
  assert.ok(streamed.length > 3);
  const bytes = join(streamed);
  assert.deepEqual(bytes, join(serialized as Uint8Array[]));
  const restored = new BrokerMachine();
  await restored.restore(bytes, pace);
  assert.equal(restored.state.queues.get("q")?.msgs.count, 3000);
});

Deno.test("BrokerMachine applies an entry it keeps as kept, once; other bytes it decodes", () => {
  const m = new BrokerMachine();
  const put = (queue: string): Proposal => ({ cmd: { op: "queue_put", queue, options: {} } });
  const data = encodeEntry({ ts: 1 }, [packProposal(put("from-bytes"))]);
  const kept = { ts: 1, ...put("kept") };
  m.keep(data, { stamp: kept, batch: false, items: [kept] });
  m.apply(1, data);
  // Kept on purpose unlike its bytes here, to show which one was applied.
  assert.ok(m.state.queue("kept") !== undefined);
  assert.equal(m.state.queue("from-bytes"), undefined);
  // Applied once: the same bytes again (or a copy, as from a peer or the disk) are decoded.
  m.apply(2, data);
  assert.ok(m.state.queue("from-bytes") !== undefined);
  m.apply(3, data.slice());
});

Deno.test("BrokerMachine answers entries only while a proposal of its node waits, once it counts them", () => {
  const m = new BrokerMachine();
  const body = new TextEncoder().encode("x");
  const batch = (n: number) =>
    encodeEntry({ ts: n }, [
      packProposal({ cmd: { op: "publish_batch", queue: "q", messages: [{ body, id: `m${n}` }] } }),
    ]);
  const put = encodeEntry({ ts: 1 }, [
    packProposal({ cmd: { op: "queue_put", queue: "q", options: {} } }),
  ]);
  // Not counting (tests, tools): every entry is answered.
  assert.deepEqual(m.apply(1, put), {
    ok: true,
    created: true,
    config: m.state.queue("q")!.config,
  });
  assert.deepEqual(m.apply(2, batch(2)), {
    ok: true,
    results: [{ ok: true, seq: 1, id: "m2", duplicate: false }],
  });
  m.answerOwnProposalsOnly();
  // None of its proposals waits (a follower): not answered, applied all the same.
  assert.equal(m.apply(3, batch(3)), UNANSWERED);
  assert.equal(m.state.queue("q")!.stats.published, 2);
  // One waits: every entry is answered, its own or another (bytes back from a peer), until settled.
  const mine = batch(4);
  m.proposed(mine, undefined);
  assert.deepEqual(m.apply(4, batch(5).slice()), {
    ok: true,
    results: [{ ok: true, seq: 3, id: "m5", duplicate: false }],
  });
  assert.deepEqual(m.apply(5, mine), {
    ok: true,
    results: [{ ok: true, seq: 4, id: "m4", duplicate: false }],
  });
  m.settled();
  assert.equal(m.apply(6, batch(6)), UNANSWERED);
  assert.equal(m.state.queue("q")!.stats.published, 5);
});
