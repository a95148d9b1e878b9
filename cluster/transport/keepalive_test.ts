import assert from "node:assert/strict";
import { Keepalive } from "./keepalive.ts";
import { DEFAULT_LIMITS, type LinkTicker } from "./_context.ts";
import type { Message } from "../raft/mod.ts";
import {
  appendMsg,
  events,
  listen,
  makeTransport,
  sleep,
  startNodes,
  stopNodes,
  type TestNode,
  waitFor,
  within,
} from "./_testing_harness.ts";

Deno.test("Keepalive.check beats, and reports silence once after linkSilenceMs", () => {
  let now = 1_000;
  let beats = 0;
  const silences: number[] = [];
  const k = new Keepalive({
    keepaliveMs: 50,
    linkSilenceMs: 300,
    onBeat: () => beats++,
    onSilent: (ms) => silences.push(ms),
    now: () => now,
  });
  now += 250;
  k.check();
  assert.deepEqual([beats, silences], [1, []]);
  k.heard();
  now += 299;
  k.check();
  assert.deepEqual(silences, [], "heard 299 ms ago is not silent");
  now += 1;
  k.check();
  assert.deepEqual([beats, silences], [3, [300]]);
});

Deno.test("Keepalive on a ticker beats on its beats, reports silence and leaves it", () => {
  let now = 1_000;
  const riders = new Map<number, { everyMs: number; fn: () => void }>();
  let next = 0;
  const ticker = {
    every(everyMs: number, fn: () => void) {
      const id = next++;
      riders.set(id, { everyMs, fn });
      return () => void riders.delete(id);
    },
  };
  let beats = 0;
  const silences: number[] = [];
  const k = new Keepalive({
    keepaliveMs: 250,
    linkSilenceMs: 2_000,
    onBeat: () => beats++,
    onSilent: (ms) => silences.push(ms),
    now: () => now,
    ticker,
  });
  k.start();
  k.start(); // idempotent: one rider
  assert.deepEqual([...riders.values()].map((r) => r.everyMs), [250]);
  const beat = () => [...riders.values()].forEach((r) => r.fn());
  for (let i = 0; i < 7; i++) {
    now += 250;
    beat();
  }
  assert.deepEqual([beats, silences], [7, []], "1,750 ms of silence is not yet silent");
  now += 250;
  beat();
  assert.deepEqual([beats, silences], [8, [2_000]]);
  assert.equal(riders.size, 0, "a silent link stops beating");
});

/**
 * A TCP relay in front of a listener that can turn into a black hole: it keeps every connection
 * open and reads what arrives but forwards nothing, as a switch that drops packets does.
 */
function relay(targetPort: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const state = { blackhole: false, conns: new Set<Deno.Conn>() };
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
        if (!state.blackhole) await to.write(buf.subarray(0, n));
      }
    } catch { /* closed */ }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  const accepting = (async () => {
    for await (const inbound of listener) {
      const outbound = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      state.conns.add(inbound).add(outbound);
      void pump(inbound, outbound);
      void pump(outbound, inbound);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    state,
    async close() {
      listener.close();
      for (const c of state.conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
}

const limits = {
  keepaliveMs: 50,
  linkSilenceMs: 400,
  handshakeTimeoutMs: 400,
  backoffBaseMs: 10,
  backoffMaxMs: 50,
};

/** n1 dials n2 through a relay; n2 is reached directly by nobody. */
function pairThroughRelay(ticker?: LinkTicker) {
  const l1 = listen();
  const l2 = listen();
  const r = relay(l2.port);
  const node = (id: string, l: ReturnType<typeof listen>) =>
    ({
      id,
      port: l.port,
      url: `http://127.0.0.1:${l.port}`,
      server: l.server,
      received: [],
      logs: [],
    }) as unknown as TestNode;
  const n1 = node("n1", l1);
  const n2 = node("n2", l2);
  n1.transport = makeTransport(
    n1,
    new Map([["n1", n1.url], ["n2", `http://127.0.0.1:${r.port}`]]),
    { limits, ...(ticker ? { ticker } : {}) },
  );
  n2.transport = makeTransport(n2, new Map([["n1", n1.url], ["n2", n2.url]]), {
    limits,
    ...(ticker ? { ticker } : {}),
  });
  l1.route.handle = (req) => n1.transport.handleUpgrade(req);
  l2.route.handle = (req) => n2.transport.handleUpgrade(req);
  const stop = async () => {
    await within(Promise.all([n1.transport.close(), n2.transport.close()]), "the transports");
    await within(r.close(), "the relay to close");
    await within(Promise.all([l1.server.shutdown(), l2.server.shutdown()]), "the listeners");
  };
  return { n1, n2, relay: r, stop };
}

/** A ticker on interval timers that records the periods asked of it. */
function countingTicker() {
  const asked: number[] = [];
  const ticker: LinkTicker = {
    every(everyMs, fn) {
      asked.push(everyMs);
      const timer = setInterval(fn, everyMs);
      return () => clearInterval(timer);
    },
  };
  return { ticker, asked };
}

for (const onTicker of [false, true]) {
  Deno.test({
    name: "a link gone mute (packets dropped, socket open) is given up on both ends and redialed" +
      (onTicker ? ", its keepalives on the node's ticker" : ""),
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const counting = countingTicker();
      await muteLinkRedialed(onTicker ? counting.ticker : undefined);
      // The dialer's keepalive every keepaliveMs, the listener's every linkSilenceMs / 2.
      if (onTicker) assert.ok(counting.asked.includes(limits.keepaliveMs), `${counting.asked}`);
      if (onTicker) {
        assert.ok(counting.asked.includes(limits.linkSilenceMs / 2), `${counting.asked}`);
      }
    },
  });
}

async function muteLinkRedialed(ticker: LinkTicker | undefined): Promise<void> {
  const { n1, n2, relay: r, stop } = pairThroughRelay(ticker);
  try {
    n1.transport.send([appendMsg("n1", "n2", 1)]);
    await waitFor("the first message", () => n2.received.length === 1);
    r.state.blackhole = true;
    await waitFor(
      "both ends to give the mute link up",
      () => events(n1, "link_silent").length >= 1 && events(n2, "link_silent").length >= 1,
    );
    assert.equal(events(n1, "link_silent")[0].details.direction, "out");
    assert.equal(events(n2, "link_silent")[0].details.direction, "in");
    n1.transport.send([appendMsg("n1", "n2", 2)]);
    await sleep(100);
    r.state.blackhole = false;
    await waitFor(
      "the message sent into the partition, after the heal",
      () => n2.received.some((m) => m.index === 2),
    );
    const s = n1.transport.stats().outbound.n2;
    assert.ok(s.silentLinks >= 1, JSON.stringify(s));
    assert.ok(s.connects >= 2, JSON.stringify(s));
  } finally {
    await stop();
  }
}

Deno.test({
  name: "an idle but healthy link is kept: pings answered, no silence, one connect",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { n1, n2, stop } = pairThroughRelay();
    try {
      n1.transport.send([appendMsg("n1", "n2", 1)]);
      await waitFor("the first message", () => n2.received.length === 1);
      await sleep(5 * limits.linkSilenceMs);
      assert.deepEqual(events(n1, "link_silent"), []);
      assert.deepEqual(events(n2, "link_silent"), []);
      assert.equal(n1.transport.stats().outbound.n2.connects, 1);
      n1.transport.send([appendMsg("n1", "n2", 2)]);
      await waitFor("a message on the same link", () => n2.received.length === 2);
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "a dialer sends no pings while its peer answers its messages, and pings again after",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // n1's keepalive beats by hand; n2 answers on its own link to n1 when told to.
    const riders = new Set<() => void>();
    const ticker: LinkTicker = {
      every: (_ms, fn) => (riders.add(fn), () => void riders.delete(fn)),
    };
    const [n1, n2] = startNodes(["n1", "n2"], { n1: { ticker } });
    const pings = () => n2.transport.stats().inbound.n1?.receivedPings ?? 0;
    const answer = (): Message => ({
      ...appendMsg("n2", "n1", 1),
      type: "append_resp",
      entries: [],
    });
    try {
      n1.transport.send([appendMsg("n1", "n2", 1)]);
      await waitFor("the append", () => n2.received.length === 1);
      n2.transport.send([answer()]);
      await waitFor("the answer", () => n1.received.length === 1);
      for (const beat of riders) beat();
      // A ping sent now would reach n2 before this second message on the same socket.
      n1.transport.send([appendMsg("n1", "n2", 2)]);
      await waitFor("the second append", () => n2.received.length === 2);
      assert.equal(pings(), 0, "answered within a keepalive period: no ping");
      await sleep(DEFAULT_LIMITS.keepaliveMs + 10); // nothing heard for a whole period
      for (const beat of riders) beat();
      await waitFor("a ping once the answers stopped", () => pings() === 1);
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});
