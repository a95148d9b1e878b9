import assert from "node:assert/strict";
import { check, type ViolationKind } from "./checker.ts";
import type { Delivered, HistoryEvent, Published, Settling, SourceConfig } from "./history.ts";

/** Builds hand-made histories with a clock that moves 1 ms per event. */
class H {
  readonly events: HistoryEvent[] = [];
  #t = 0;
  #op = 0;

  constructor(sources: Record<string, SourceConfig>) {
    this.events.push({ type: "config", t: 0, sources });
  }

  tick(): number {
    return ++this.#t;
  }

  /** Moves the clock to `t` (the next event is at t + 1). */
  skipTo(t: number): void {
    this.#t = t;
  }

  publish(messages: Published[], outcome: "ok" | "fail" | "unknown", seqs?: number[]): void {
    const opId = ++this.#op;
    this.events.push({ type: "invoke", t: this.tick(), op: "publish", opId, p: "p1", messages });
    this.events.push({ type: "complete", t: this.tick(), opId, outcome, seqs });
  }

  /** Invokes a receive; returns a function completing it with `msgs`. */
  receiveStart(source: string): (msgs: Delivered[]) => void {
    const opId = ++this.#op;
    this.events.push({ type: "invoke", t: this.tick(), op: "receive", opId, p: "c1", source });
    return (msgs) =>
      this.events.push({ type: "complete", t: this.tick(), opId, outcome: "ok", msgs });
  }

  receive(source: string, msgs: Delivered[]): void {
    this.receiveStart(source)(msgs);
  }

  ack(items: Settling[], statuses: string[]): void {
    const opId = ++this.#op;
    this.events.push({ type: "invoke", t: this.tick(), op: "ack", opId, p: "c1", items });
    this.events.push({ type: "complete", t: this.tick(), opId, outcome: "ok", statuses });
  }

  read(source: string, published: number): void {
    const opId = ++this.#op;
    this.events.push({ type: "invoke", t: this.tick(), op: "read", opId, p: "r1", source });
    this.events.push({ type: "complete", t: this.tick(), opId, outcome: "ok", published });
  }

  txn(items: Settling[], messages: Published[], outcome: "ok" | "fail", seqs?: number[]): void {
    const opId = ++this.#op;
    this.events.push({ type: "invoke", t: this.tick(), op: "txn", opId, p: "m1", items, messages });
    this.events.push({ type: "complete", t: this.tick(), opId, outcome, seqs });
  }
}

const EO: Record<string, SourceConfig> = {
  "q:eo": { mode: "exactly_once", fifo: false, fedBy: ["q:eo"] },
};
const FIFO: Record<string, SourceConfig> = {
  "q:f": { mode: "at_least_once", fifo: true, fedBy: ["q:f"] },
};

const only = (kind: ViolationKind, events: HistoryEvent[]) => {
  const r = check(events);
  assert.equal(r.counts[kind], r.violations, JSON.stringify(r.details));
  assert.ok(r.counts[kind] >= 1, `expected a ${kind} violation`);
  return r;
};

/** A clean exactly-once round: publish two, receive, ack, drain, heal, identical states. */
function cleanEo(): H {
  const h = new H(EO);
  h.publish([{ target: "q:eo", id: "a" }, { target: "q:eo", id: "b" }], "ok", [1, 2]);
  h.receive("q:eo", [{ id: "a", seq: 1, attempt: 1 }, { id: "b", seq: 2, attempt: 1 }]);
  h.ack([{ source: "q:eo", id: "a", seq: 1, attempt: 1 }], ["acked"]);
  h.ack([{ source: "q:eo", id: "b", seq: 2, attempt: 1 }], ["acked"]);
  return h;
}

Deno.test("check passes a clean history and counts what it saw", () => {
  const h = cleanEo();
  h.events.push({ type: "heal", t: h.tick() });
  h.publish([{ target: "q:eo", id: "c" }], "ok", [3]);
  h.receive("q:eo", [{ id: "c", seq: 3, attempt: 1 }]);
  h.ack([{ source: "q:eo", id: "c", seq: 3, attempt: 1 }], ["acked"]);
  h.events.push({ type: "drain", t: h.tick(), done: true, detail: "" });
  const stats = { ready: 0, leased: 0, delayed: 0, published: 3, acked: 3 };
  for (const node of ["n1", "n2"]) {
    h.events.push({
      type: "state",
      t: h.tick(),
      node,
      appliedIndex: 9,
      sources: { "q:eo": stats },
    });
  }
  h.events.push({ type: "nemesis", t: h.tick(), kind: "kill", phase: "start", detail: "n1" });
  const r = check(h.events);
  assert.equal(r.violations, 0, JSON.stringify(r.details));
  assert.equal(r.acknowledged, 3);
  assert.equal(r.delivered, 3);
  assert.deepEqual(r.faults, { kill: 1 });
  assert.equal(r.healToWriteMs, 2);
});

Deno.test("check counts an acknowledged publish never delivered as lost", () => {
  const h = cleanEo();
  h.publish([{ target: "q:eo", id: "z" }], "ok", [3]);
  only("lost", h.events);
});

Deno.test("check does not count an unknown or failed publish never delivered as lost", () => {
  const h = cleanEo();
  h.publish([{ target: "q:eo", id: "u" }], "unknown");
  h.publish([{ target: "q:eo", id: "f" }], "fail");
  assert.equal(check(h.events).violations, 0);
});

Deno.test("check counts one id under two seqs as duplicated", () => {
  const h = cleanEo();
  h.publish([{ target: "q:eo", id: "a" }], "ok", [7]);
  only("duplicated", h.events);
});

Deno.test("check counts two acked answers for one exactly-once id as duplicated", () => {
  const h = cleanEo();
  h.ack([{ source: "q:eo", id: "a", seq: 1, attempt: 2 }], ["acked"]);
  only("duplicated", h.events);
});

Deno.test("check allows two acked answers on an at-least-once source", () => {
  const h = new H({ "q:a": { mode: "at_least_once", fifo: false, fedBy: ["q:a"] } });
  h.publish([{ target: "q:a", id: "a" }], "ok", [1]);
  const done = h.receiveStart("q:a");
  h.ack([{ source: "q:a", id: "a", seq: 1, attempt: 1 }], ["acked"]);
  done([{ id: "a", seq: 1, attempt: 1 }]);
  h.ack([{ source: "q:a", id: "a", seq: 1, attempt: 1 }], ["acked"]);
  assert.equal(check(h.events).violations, 0);
});

Deno.test("check counts a source message moved by two transactions as duplicated", () => {
  const h = new H({
    ...EO,
    "q:dst": { mode: "exactly_once", fifo: false, fedBy: ["q:dst"] },
  });
  h.publish([{ target: "q:eo", id: "a" }], "ok", [1]);
  h.receive("q:eo", [{ id: "a", seq: 1, attempt: 1 }]);
  const item = { source: "q:eo", id: "a", seq: 1, attempt: 1 };
  h.txn([item], [{ target: "q:dst", id: "a~1", from: "a" }], "ok", [1]);
  h.receive("q:dst", [{ id: "a~1", seq: 1, attempt: 1 }, { id: "a~2", seq: 2, attempt: 1 }]);
  // The second move's outcome was never seen, but its message was delivered.
  h.events.push({
    type: "invoke",
    t: h.tick(),
    op: "txn",
    opId: 99,
    p: "m2",
    items: [{ ...item, attempt: 2 }],
    messages: [{ target: "q:dst", id: "a~2", from: "a" }],
  });
  const r = only("duplicated", h.events);
  assert.match(r.details[0].detail, /moved 2 times/);
});

Deno.test("check counts a delivery of an id nobody published as unexpected", () => {
  const h = cleanEo();
  h.receive("q:eo", [{ id: "ghost", seq: 9, attempt: 1 }]);
  only("unexpected", h.events);
});

Deno.test("check counts a delivery begun after a confirmed ack as redelivered", () => {
  const h = cleanEo();
  h.receive("q:eo", [{ id: "a", seq: 1, attempt: 2 }]);
  only("redelivered", h.events);
});

Deno.test("check allows a delivery that overlaps the ack", () => {
  const h = new H(EO);
  h.publish([{ target: "q:eo", id: "a" }], "ok", [1]);
  h.receive("q:eo", [{ id: "a", seq: 1, attempt: 1 }]);
  const done = h.receiveStart("q:eo");
  h.ack([{ source: "q:eo", id: "a", seq: 1, attempt: 1 }], ["stale"]);
  done([{ id: "a", seq: 1, attempt: 2 }]);
  h.ack([{ source: "q:eo", id: "a", seq: 1, attempt: 2 }], ["acked"]);
  assert.equal(check(h.events).violations, 0);
});

Deno.test("check counts seqs out of order inside one receive answer", () => {
  const h = cleanEo();
  h.publish([{ target: "q:eo", id: "c" }, { target: "q:eo", id: "d" }], "ok", [3, 4]);
  h.receive("q:eo", [{ id: "d", seq: 4, attempt: 2 }, { id: "c", seq: 3, attempt: 2 }]);
  only("order", h.events);
});

Deno.test("check counts a lower first delivery after a higher one completed as order", () => {
  const h = new H(EO);
  h.publish([{ target: "q:eo", id: "a" }, { target: "q:eo", id: "b" }], "ok", [1, 2]);
  h.receive("q:eo", [{ id: "b", seq: 2, attempt: 1 }]);
  h.receive("q:eo", [{ id: "a", seq: 1, attempt: 1 }]);
  only("order", h.events);
});

Deno.test("check allows a lower redelivery after a higher first delivery", () => {
  const h = new H(EO);
  h.publish([{ target: "q:eo", id: "a" }, { target: "q:eo", id: "b" }], "ok", [1, 2]);
  h.receive("q:eo", [{ id: "b", seq: 2, attempt: 1 }]);
  h.receive("q:eo", [{ id: "a", seq: 1, attempt: 2 }]);
  assert.equal(check(h.events).counts.order, 0);
});

Deno.test("check counts a fifo group delivered before its lower seq was acked as order", () => {
  const h = new H(FIFO);
  h.publish(
    [{ target: "q:f", id: "a", group: "g" }, { target: "q:f", id: "b", group: "g" }],
    "ok",
    [
      1,
      2,
    ],
  );
  h.receive("q:f", [{ id: "a", seq: 1, attempt: 1, group: "g" }]);
  h.receive("q:f", [{ id: "b", seq: 2, attempt: 1, group: "g" }]);
  h.ack([{ source: "q:f", id: "a", seq: 1, attempt: 1, group: "g" }], ["acked"]);
  h.ack([{ source: "q:f", id: "b", seq: 2, attempt: 1, group: "g" }], ["acked"]);
  only("order", h.events);
});

Deno.test("check counts a fifo lower seq delivered after a higher one as order", () => {
  const h = new H(FIFO);
  h.publish(
    [{ target: "q:f", id: "a", group: "g" }, { target: "q:f", id: "b", group: "g" }],
    "ok",
    [
      1,
      2,
    ],
  );
  h.receive("q:f", [{ id: "a", seq: 1, attempt: 1, group: "g" }]);
  h.ack([{ source: "q:f", id: "a", seq: 1, attempt: 1, group: "g" }], ["stale"]);
  h.receive("q:f", [{ id: "b", seq: 2, attempt: 1, group: "g" }]);
  h.receive("q:f", [{ id: "a", seq: 1, attempt: 2, group: "g" }]);
  h.ack([{ source: "q:f", id: "a", seq: 1, attempt: 2, group: "g" }], ["acked"]);
  h.ack([{ source: "q:f", id: "b", seq: 2, attempt: 1, group: "g" }], ["acked"]);
  const r = check(h.events);
  assert.ok(r.counts.order >= 1, JSON.stringify(r.details));
  assert.ok(r.details.some((d) => /lower seq was delivered after/.test(d.detail)));
});

Deno.test("check passes a fifo history with two groups interleaved", () => {
  const h = new H(FIFO);
  h.publish(
    [
      { target: "q:f", id: "a", group: "g" },
      { target: "q:f", id: "x", group: "h" },
      { target: "q:f", id: "b", group: "g" },
    ],
    "ok",
    [1, 2, 3],
  );
  h.receive("q:f", [{ id: "a", seq: 1, attempt: 1, group: "g" }, {
    id: "x",
    seq: 2,
    attempt: 1,
    group: "h",
  }]);
  h.ack([{ source: "q:f", id: "a", seq: 1, attempt: 1, group: "g" }], ["acked"]);
  h.receive("q:f", [{ id: "b", seq: 3, attempt: 1, group: "g" }]);
  h.ack([{ source: "q:f", id: "b", seq: 3, attempt: 1, group: "g" }], ["acked"]);
  h.ack([{ source: "q:f", id: "x", seq: 2, attempt: 1, group: "h" }], ["acked"]);
  const r = check(h.events);
  assert.equal(r.violations, 0, JSON.stringify(r.details));
});

Deno.test("check counts different stats at one applied index as divergence", () => {
  const h = cleanEo();
  const stats = { ready: 0, leased: 0, delayed: 0, published: 2, acked: 2 };
  h.events.push({ type: "state", t: 1, node: "n1", appliedIndex: 5, sources: { "q:eo": stats } });
  h.events.push({
    type: "state",
    t: 2,
    node: "n2",
    appliedIndex: 5,
    sources: { "q:eo": { ...stats, acked: 1, ready: 1 } },
  });
  only("divergence", h.events);
});

Deno.test("check counts nodes stuck at different applied indexes as divergence", () => {
  const h = cleanEo();
  const stats = { ready: 0, leased: 0, delayed: 0, published: 2, acked: 2 };
  h.events.push({ type: "state", t: 1, node: "n1", appliedIndex: 5, sources: { "q:eo": stats } });
  h.events.push({ type: "state", t: 2, node: "n2", appliedIndex: 4, sources: { "q:eo": stats } });
  only("divergence", h.events);
});

Deno.test("check counts no write within the bound after the heal as liveness", () => {
  const h = cleanEo();
  h.events.push({ type: "heal", t: 100 });
  h.events.push({
    type: "invoke",
    t: 101,
    op: "publish",
    opId: 500,
    p: "p1",
    messages: [{ target: "q:eo", id: "late" }],
  });
  h.events.push({ type: "complete", t: 20_000, opId: 500, outcome: "ok", seqs: [3] });
  h.receive("q:eo", [{ id: "late", seq: 3, attempt: 1 }]);
  h.events.push({ type: "drain", t: 20_002, done: true, detail: "" });
  only("liveness", h.events);
});

Deno.test("check counts an unfinished drain as liveness", () => {
  const h = cleanEo();
  h.events.push({ type: "drain", t: h.tick(), done: false, detail: "q:eo ready 3" });
  only("liveness", h.events);
});

Deno.test("check counts a node that died on its own as crash", () => {
  const h = cleanEo();
  h.events.push({ type: "crash", t: h.tick(), node: "n4", detail: "Election safety violated" });
  only("crash", h.events);
});

Deno.test("check counts a delivery of a message whose only transaction was refused as unexpected", () => {
  const h = new H({
    ...EO,
    "q:dst": { mode: "exactly_once", fifo: false, fedBy: ["q:dst"] },
  });
  h.publish([{ target: "q:eo", id: "a" }], "ok", [1]);
  h.receive("q:eo", [{ id: "a", seq: 1, attempt: 1 }]);
  const item = { source: "q:eo", id: "a", seq: 1, attempt: 1 };
  h.txn([item], [{ target: "q:dst", id: "a~1", from: "a" }], "fail");
  h.txn([item], [{ target: "q:dst", id: "a~2", from: "a" }], "ok", [1]);
  h.receive("q:dst", [{ id: "a~2", seq: 1, attempt: 1 }, { id: "a~1", seq: 2, attempt: 1 }]);
  const r = check(h.events);
  assert.equal(r.counts.unexpected, 1, JSON.stringify(r.details));
  assert.match(r.details.find((d) => d.kind === "unexpected")!.detail, /a~1/);
});

Deno.test("check does not count a delivery after a refused then unknown publish as unexpected", () => {
  const h = new H(EO);
  h.publish([{ target: "q:eo", id: "a" }], "fail");
  h.publish([{ target: "q:eo", id: "a" }], "unknown");
  h.receive("q:eo", [{ id: "a", seq: 1, attempt: 1 }]);
  assert.equal(check(h.events).violations, 0);
});

Deno.test("check counts a read missing an acknowledged publish as stale_read", () => {
  const h = cleanEo();
  h.read("q:eo", 1);
  only("stale_read", h.events);
});

Deno.test("check counts a read going back below an earlier read as stale_read", () => {
  const h = cleanEo();
  h.publish([{ target: "q:eo", id: "u" }], "unknown");
  h.read("q:eo", 3);
  h.read("q:eo", 2);
  h.receive("q:eo", [{ id: "u", seq: 3, attempt: 1 }]);
  only("stale_read", h.events);
});

Deno.test("check allows a read that overlaps a publish to miss it", () => {
  const h = cleanEo();
  const opId = 700;
  h.events.push({ type: "invoke", t: h.tick(), op: "read", opId, p: "r1", source: "q:eo" });
  h.publish([{ target: "q:eo", id: "c" }], "ok", [3]);
  h.events.push({ type: "complete", t: h.tick(), opId, outcome: "ok", published: 2 });
  h.receive("q:eo", [{ id: "c", seq: 3, attempt: 1 }]);
  assert.equal(check(h.events).violations, 0);
});

Deno.test("check reports the longest stretch between accepted writes, ignoring failed ones and reads", () => {
  const h = new H(EO);
  h.publish([{ target: "q:eo", id: "a" }], "ok", [1]); // invoked 1, ok at 2
  h.skipTo(100);
  h.publish([{ target: "q:eo", id: "b" }], "unknown"); // not accepted
  h.read("q:eo", 1); // a read is no write
  h.skipTo(500);
  h.publish([{ target: "q:eo", id: "c" }], "ok", [2]); // ok at 502
  h.skipTo(600);
  h.publish([{ target: "q:eo", id: "d" }], "ok", [3]); // ok at 602
  assert.deepEqual(check(h.events).longestWriteGap, { ms: 500, fromMs: 2 });
});

/** The MQTT shape: deliveries carry no seq (0), one receive per PUBLISH the client got. */
const MQTT: Record<string, SourceConfig> = {
  "m:s/q1": { mode: "at_least_once", fifo: false, fedBy: ["m:q1"] },
  "m:s/q2": { mode: "exactly_once", fifo: false, fedBy: ["m:q2"], once: true },
};

function mqttRound(): H {
  const h = new H(MQTT);
  h.publish([{ target: "m:q1", id: "a" }], "ok");
  h.publish([{ target: "m:q2", id: "b" }], "ok");
  h.receive("m:s/q1", [{ id: "a", seq: 0, attempt: 1 }]);
  h.receive("m:s/q2", [{ id: "b", seq: 0, attempt: 1 }]);
  return h;
}

Deno.test("check allows an MQTT QoS 1 message delivered twice (DUP) on an at-least-once source", () => {
  const h = mqttRound();
  h.receive("m:s/q1", [{ id: "a", seq: 0, attempt: 2 }]);
  assert.equal(check(h.events).violations, 0, JSON.stringify(check(h.events).details));
});

Deno.test("check counts a second delivery on a once source (MQTT QoS 2) as duplicated", () => {
  const h = mqttRound();
  h.receive("m:s/q2", [{ id: "b", seq: 0, attempt: 2 }]);
  const r = only("duplicated", h.events);
  assert.equal(r.counts.duplicated, 1);
});

Deno.test("check counts an acknowledged MQTT QoS 2 message missing at a subscriber as lost", () => {
  const h = mqttRound();
  h.publish([{ target: "m:q2", id: "c" }], "ok");
  only("lost", h.events);
});
