import assert from "node:assert/strict";
import type { Message } from "../raft/mod.ts";
import {
  appendMsg,
  deadPort,
  events,
  startNodeAt,
  startNodes,
  stopNodes,
  type TestNode,
  waitFor,
  within,
} from "./_testing_harness.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

Deno.test({
  name: "Transport delivers messages both ways with Uint8Array fields intact",
  ...opts,
  fn: async () => {
    const [n1, n2] = startNodes(["n1", "n2"]);
    try {
      const snap: Message = {
        type: "snapshot",
        clusterId: "c1",
        from: "n1",
        to: "n2",
        term: 2,
        logTerm: 0,
        index: 0,
        commit: 5,
        snapshot: {
          meta: { index: 9, term: 2, conf: { voters: ["n1", "n2"], learners: [] } },
          offset: 0,
          data: new Uint8Array([0, 255, 7, 1]),
          totalBytes: 4,
          done: true,
        },
      };
      const hb: Message = {
        type: "heartbeat_resp",
        clusterId: "c1",
        from: "n2",
        to: "n1",
        term: 2,
        logTerm: 0,
        index: 0,
        commit: 0,
        context: new Uint8Array([9, 8, 7]),
      };
      const toN2 = [appendMsg("n1", "n2", 1, 300), snap];
      n1.transport.send(toN2);
      n2.transport.send([hb]);
      await waitFor("n2 to receive 2", () => n2.received.length === 2);
      await waitFor("n1 to receive 1", () => n1.received.length === 1);
      assert.deepStrictEqual(n2.received, toN2);
      assert.deepStrictEqual(n1.received, [hb]);
      assert.equal(n2.received[0].entries![0].data.constructor, Uint8Array);
      assert.equal(n2.received[1].snapshot!.data.constructor, Uint8Array);
      assert.equal(n1.received[0].context!.constructor, Uint8Array);
      assert.equal(events(n1, "link_up").length, 2, "one link out and one in on n1");
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});

Deno.test({
  name: "Transport.send() batches a synchronous burst into one frame, in order",
  ...opts,
  fn: async () => {
    const [n1, n2] = startNodes(["n1", "n2"]);
    try {
      n1.transport.send([appendMsg("n1", "n2", 0)]);
      await waitFor("link up", () => n2.received.length === 1);
      for (let i = 1; i <= 200; i++) n1.transport.send([appendMsg("n1", "n2", i, 256)]);
      await waitFor("200 more", () => n2.received.length === 201);
      assert.deepStrictEqual(n2.received.map((m) => m.index), [...Array(201).keys()]);
      assert.equal(n1.transport.stats().outbound.n2.sentFrames, 2);
      assert.equal(n2.transport.stats().inbound.n1.receivedFrames, 2);
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});

Deno.test({
  name: "Transport queues while a peer restarts, reconnects and delivers the queue",
  ...opts,
  fn: async () => {
    const [n1, n2] = startNodes(["n1", "n2"]);
    let n2b: TestNode | undefined;
    try {
      n1.transport.send([appendMsg("n1", "n2", 1)]);
      await waitFor("first delivery", () => n2.received.length === 1);
      await within(n2.transport.close(), "n2's transport to close");
      await within(n2.server.shutdown(), "n2's listener to stop");
      await waitFor(
        "n1 to see the link drop",
        () => n1.transport.stats().outbound.n2.state !== "open",
      );
      n1.transport.send([appendMsg("n1", "n2", 2), appendMsg("n1", "n2", 3)]);
      // The same id and port come back with a fresh transport (a restarted process).
      n2b = startNodeAt("n2", n2.port, new Map([["n1", n1.url], ["n2", n2.url]]));
      await waitFor("queued messages after restart", () => n2b!.received.length === 2);
      assert.deepStrictEqual(n2b.received.map((m) => m.index), [2, 3]);
      assert.equal(n1.transport.stats().outbound.n2.connects, 2);
      assert.ok(events(n1, "link_down").length >= 1);
    } finally {
      await stopNodes(n2b ? [n1, n2b] : [n1]);
    }
  },
});

Deno.test({
  name: "Transport keeps a dead peer's queue bounded and other peers flowing",
  ...opts,
  fn: async () => {
    const n3Port = deadPort();
    const dead = new Map([["n3", `http://127.0.0.1:${n3Port}`]]);
    const limits = { queueMessagesMax: 100, backoffBaseMs: 10, backoffMaxMs: 50 };
    const [n1, n2] = startNodes(["n1", "n2"], { n1: { limits } }, dead);
    let n3: TestNode | undefined;
    try {
      for (let i = 0; i < 10; i++) {
        const burst: Message[] = [];
        for (let j = 0; j < 100; j++) burst.push(appendMsg("n1", "n3", i * 100 + j, 256));
        burst.push(appendMsg("n1", "n2", i));
        n1.transport.send(burst);
      }
      await waitFor("n2 receives all 10", () => n2.received.length === 10);
      const s = n1.transport.stats().outbound.n3;
      assert.equal(s.queuedMessages, 100);
      assert.equal(s.droppedQueueFull, 900);
      assert.notEqual(s.state, "open");
      assert.equal(events(n1, "queue_drop").length, 1, "one log line per drop episode");
      // n3 comes up: it gets the newest 100, so the oldest were the ones dropped.
      const peers = new Map([["n1", n1.url], ["n2", n2.url], ["n3", dead.get("n3")!]]);
      n3 = startNodeAt("n3", n3Port, peers);
      await waitFor("n3 to receive the queue", () => n3!.received.length === 100);
      assert.deepStrictEqual(
        n3.received.map((m) => m.index),
        [...Array(100).keys()].map((i) => 900 + i),
      );
    } finally {
      await stopNodes(n3 ? [n1, n2, n3] : [n1, n2]);
    }
  },
});

Deno.test({
  name: "Transport queue drops the oldest messages by bytes too",
  ...opts,
  fn: async () => {
    const dead = new Map([["n3", `http://127.0.0.1:${deadPort()}`]]);
    const [n1] = startNodes(["n1"], { n1: { limits: { queueBytesMax: 10_000 } } }, dead);
    try {
      for (let i = 0; i < 10; i++) n1.transport.send([appendMsg("n1", "n3", i, 2000)]);
      const s = n1.transport.stats().outbound.n3;
      assert.ok(s.queuedBytes <= 10_000, `queued ${s.queuedBytes} bytes`);
      assert.equal(s.queuedMessages + s.droppedQueueFull, 10);
      assert.ok(s.droppedQueueFull >= 5);
    } finally {
      await stopNodes([n1]);
    }
  },
});

Deno.test({
  name:
    "Transport.setPeers() closes a removed peer's outbound link, still hears it (links are not gated by membership), and re-adds it",
  ...opts,
  fn: async () => {
    // n3 without a URL to advertise: nothing to dial back, so only setPeers decides n1's link.
    const [n1, n2, n3] = startNodes(["n1", "n2", "n3"], { n3: { selfUrl: undefined } });
    try {
      n3.transport.send([appendMsg("n3", "n1", 1)]);
      n1.transport.send([appendMsg("n1", "n3", 1)]);
      await waitFor("n1↔n3 up", () => n1.received.length === 1 && n3.received.length === 1);
      const all = new Map([["n1", n1.url], ["n2", n2.url], ["n3", n3.url]]);
      n1.transport.setPeers(new Map([["n1", n1.url], ["n2", n2.url]]));
      assert.deepStrictEqual(Object.keys(n1.transport.stats().outbound), ["n2"]);
      n1.transport.send([appendMsg("n1", "n3", 2)]);
      assert.equal(n1.transport.stats().droppedUnknownPeer, 1);
      // A removed member that keeps running is still heard: it proved the secret.
      n3.transport.send([appendMsg("n3", "n1", 2)]);
      await waitFor("n3→n1 after its removal", () => n1.received.some((m) => m.index === 2));
      assert.deepStrictEqual(events(n1, "peer_refused"), []);
      n1.transport.setPeers(all);
      n1.transport.send([appendMsg("n1", "n3", 3)]);
      await waitFor("n1→n3 again", () => n3.received.some((m) => m.index === 3));
      n3.transport.send([appendMsg("n3", "n1", 4)]);
      await waitFor("n3→n1 again", () => n1.received.some((m) => m.index === 4));
      assert.deepStrictEqual(n3.received.map((m) => m.index), [1, 3]);
    } finally {
      await stopNodes([n1, n2, n3]);
    }
  },
});

Deno.test({
  name:
    "OutboundLink splits at frameBytesMax and keeps order while it waits for the socket to drain",
  ...opts,
  fn: async () => {
    // bufferedBytesHigh 0: after any frame still in the socket's buffer the link must poll.
    const limits = { frameBytesMax: 10_000, bufferedBytesHigh: 0, drainPollMs: 1 };
    const [n1, n2] = startNodes(["n1", "n2"], { n1: { limits } });
    try {
      n1.transport.send([appendMsg("n1", "n2", 0)]);
      await waitFor("link up", () => n2.received.length === 1);
      const burst: Message[] = [];
      for (let i = 1; i <= 100; i++) burst.push(appendMsg("n1", "n2", i, 2000));
      n1.transport.send(burst);
      await waitFor("all 100", () => n2.received.length === 101);
      assert.deepStrictEqual(n2.received.map((m) => m.index), [...Array(101).keys()]);
      const frames = n2.transport.stats().inbound.n1.receivedFrames;
      assert.ok(frames >= 21, `${frames} frames for 100 messages of ~2 KB under a 10 KB frame cap`);
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});
