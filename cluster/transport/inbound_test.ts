import assert from "node:assert/strict";
import {
  clientProofInput,
  importSecret,
  newNonce,
  parseHandshake,
  serverProofInput,
  sign,
} from "./auth.ts";
import { encodeFrame } from "./codec.ts";
import { CLUSTER_LINK_PATH } from "./mod.ts";
import {
  appendMsg,
  deadPort,
  events,
  listen,
  startNodeAt,
  startNodes,
  stopNodes,
  type TestNode,
  waitFor,
  within,
} from "./_testing_harness.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

/** Waits for `node` to log a refusal and returns its reasons. */
async function refusals(node: TestNode, count = 1): Promise<string[]> {
  await waitFor("peer_refused", () => events(node, "peer_refused").length >= count);
  return events(node, "peer_refused").map((l) => String(l.details.reason));
}

Deno.test({
  name: "InboundLink refuses a peer with the wrong secret and accepts none of its messages",
  ...opts,
  fn: async () => {
    const [n1, n2] = startNodes(["n1", "n2"], { n1: { secret: "wrong" } });
    try {
      n1.transport.send([appendMsg("n1", "n2", 1)]);
      const reasons = await refusals(n2, 2); // refused, redialed, refused again
      assert.deepStrictEqual(new Set(reasons), new Set(["bad_mac"]));
      assert.equal(events(n2, "peer_refused")[0].details.clientId, "n1");
      const out = n1.transport.stats().outbound.n2;
      assert.notEqual(out.state, "open");
      assert.equal(out.lastError, "refused: bad_mac");
      assert.equal(out.sentMessages, 0);
      assert.equal(n2.received.length, 0);
      assert.equal(events(n2, "link_up").filter((l) => l.details.direction === "in").length, 0);
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});

Deno.test({
  name:
    "A node missing from the listener's peer set is admitted by the secret and cluster id, and answered at the URL it advertised (docs/reliability.md item 11)",
  ...opts,
  fn: async () => {
    // n9 stands for a leader added while n2 was down: n2's membership does not name it yet.
    const [n2] = startNodes(["n2"]);
    const n9 = startNodeAt("n9", deadPort(), new Map([["n2", n2.url]]));
    try {
      n9.transport.send([appendMsg("n9", "n2", 1)]);
      await waitFor("n9's message at n2", () => n2.received.length === 1);
      assert.deepStrictEqual(events(n2, "peer_refused"), []);
      assert.equal(events(n2, "peer_learned")[0].details.url, n9.url);
      n2.transport.send([appendMsg("n2", "n9", 2)]);
      await waitFor("n2's answer at n9", () => n9.received.length === 1);
      assert.equal(n9.received[0].index, 2);
      assert.equal(n2.transport.stats().droppedUnknownPeer, 0);
      // The membership catching up names n9 at the same URL: the link is kept, not redialed.
      n2.transport.setPeers(new Map([["n2", n2.url], ["n9", n9.url]]));
      n2.transport.send([appendMsg("n2", "n9", 3)]);
      await waitFor("n2's next message at n9", () => n9.received.length === 2);
      assert.equal(n2.transport.stats().outbound.n9.connects, 1);
    } finally {
      await stopNodes([n9, n2]);
    }
  },
});

Deno.test({
  name: "InboundLink refuses a dialer that claims the listener's own id",
  ...opts,
  fn: async () => {
    const [n2] = startNodes(["n2"]);
    try {
      const s = rawSocket(n2.url);
      await waitFor("challenge", () => s.texts.length === 1);
      const challenge = parseHandshake(s.texts[0]);
      const serverNonce = challenge?.t === "challenge" ? challenge.nonce : "";
      const fields = { clientId: "n2", serverId: "n2", clusterId: "c1" };
      const mac = await sign(
        await importSecret("s3cret"),
        clientProofInput({ serverNonce, ...fields }),
      );
      s.ws.send(JSON.stringify({ t: "hello", v: 1, ...fields, nonce: newNonce(), mac }));
      assert.deepStrictEqual(await s.closed, { code: 4003, reason: "same_id" });
      assert.deepStrictEqual(await refusals(n2), ["same_id"]);
    } finally {
      await stopNodes([n2]);
    }
  },
});

Deno.test({
  name: "InboundLink refuses a peer of another cluster",
  ...opts,
  fn: async () => {
    const [n1, n2] = startNodes(["n1", "n2"], { n1: { clusterId: "c2" } });
    try {
      assert.deepStrictEqual((await refusals(n2)).slice(0, 1), ["cluster_mismatch"]);
      assert.equal(events(n2, "peer_refused")[0].details.clusterId, "c2");
      assert.equal(n2.received.length, 0);
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});

Deno.test({
  name: "InboundLink refuses a dialer that meant to reach another node",
  ...opts,
  fn: async () => {
    const [n2, n3] = startNodes(["n2", "n3"]);
    // n1 believes n2 lives at n3's address.
    const n1 = startNodeAt("n1", deadPort(), new Map([["n2", n3.url], ["n3", n3.url]]));
    try {
      await waitFor(
        "n3 refusal",
        () => events(n3, "peer_refused").some((l) => l.details.reason === "wrong_server"),
      );
      assert.equal(n3.received.length, 0);
    } finally {
      await stopNodes([n1, n2, n3]);
    }
  },
});

/** A bare WebSocket to `url`'s cluster path that records what happens to it. */
function rawSocket(url: string) {
  const ws = new WebSocket(url.replace("http:", "ws:") + CLUSTER_LINK_PATH);
  ws.binaryType = "arraybuffer";
  const texts: string[] = [];
  const closed = within(
    new Promise<{ code: number; reason: string }>((resolve) => {
      ws.onclose = (ev) => resolve({ code: ev.code, reason: ev.reason });
    }),
    `the raw socket to ${url} to close`,
  );
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") texts.push(ev.data);
  };
  const opened = within(
    new Promise<void>((resolve) => ws.onopen = () => resolve()),
    `the raw socket to ${url} to open`,
  );
  return { ws, texts, closed, opened };
}

/** A raw socket that completes the dialer's handshake as `clientId` (the welcome is not checked). */
async function authenticatedSocket(url: string, clientId: string, serverId: string) {
  const s = rawSocket(url);
  await waitFor("challenge", () => s.texts.length === 1);
  const challenge = parseHandshake(s.texts[0]);
  assert.equal(challenge?.t, "challenge");
  const key = await importSecret("s3cret");
  const fields = { clientId, serverId, clusterId: "c1" };
  const serverNonce = challenge.t === "challenge" ? challenge.nonce : "";
  const mac = await sign(key, clientProofInput({ serverNonce, ...fields }));
  s.ws.send(JSON.stringify({ t: "hello", v: 1, ...fields, nonce: newNonce(), mac }));
  await waitFor("welcome", () => s.texts.length === 2);
  assert.equal(parseHandshake(s.texts[1])?.t, "welcome");
  return s;
}

Deno.test({
  name: "InboundLink refuses a Raft frame sent before authentication",
  ...opts,
  fn: async () => {
    const [n1, n2] = startNodes(["n1", "n2"]);
    try {
      const s = rawSocket(n2.url);
      await s.opened;
      s.ws.send(encodeFrame([appendMsg("n1", "n2", 1)]));
      assert.deepStrictEqual(await s.closed, { code: 4003, reason: "bad_handshake" });
      assert.ok((await refusals(n2)).includes("bad_handshake"));
      assert.equal(n2.received.filter((m) => m.index === 1 && m.from === "n1").length, 0);
    } finally {
      await stopNodes([n1, n2]);
    }
  },
});

Deno.test({
  name: "InboundLink closes a link that does not authenticate in time",
  ...opts,
  fn: async () => {
    const [n2] = startNodes(["n2"], { n2: { limits: { handshakeTimeoutMs: 50 } } });
    try {
      const s = rawSocket(n2.url);
      assert.deepStrictEqual(await s.closed, { code: 4003, reason: "handshake_timeout" });
      assert.deepStrictEqual(await refusals(n2), ["handshake_timeout"]);
    } finally {
      await stopNodes([n2]);
    }
  },
});

Deno.test({
  name: "InboundLink closes the link on an unknown frame version or undecodable body",
  ...opts,
  fn: async () => {
    // n1 is in n2's peer set but does not run: only the raw socket speaks as n1.
    const [n2] = startNodes(["n2"], {}, new Map([["n1", `http://127.0.0.1:${deadPort()}`]]));
    try {
      const bad = encodeFrame([appendMsg("n1", "n2", 1)]);
      bad[0] = 9;
      const garbage = new Uint8Array([1, 0xc1, 0xc1, 0xc1]);
      const expected = ["unknown frame version 9", "msgpack decode failed"];
      for (const [i, frame] of [bad, garbage].entries()) {
        const s = await authenticatedSocket(n2.url, "n1", "n2");
        s.ws.send(frame);
        const closed = await s.closed;
        assert.equal(closed.code, 4002);
        await waitFor("frame_rejected", () => events(n2, "frame_rejected").length === i + 1);
        assert.match(
          String(events(n2, "frame_rejected")[i].details.reason),
          new RegExp(expected[i]),
        );
      }
      assert.equal(n2.received.length, 0);
    } finally {
      await stopNodes([n2]);
    }
  },
});

Deno.test({
  name: "InboundLink drops messages whose sender or cluster disagree with the link",
  ...opts,
  fn: async () => {
    const [n2] = startNodes(["n2"], {}, new Map([["n1", `http://127.0.0.1:${deadPort()}`]]));
    try {
      const s = await authenticatedSocket(n2.url, "n1", "n2");
      const forged = { ...appendMsg("n3", "n2", 1) };
      const otherCluster = { ...appendMsg("n1", "n2", 2), clusterId: "c2" };
      s.ws.send(encodeFrame([forged, otherCluster, appendMsg("n1", "n2", 3)]));
      await waitFor("good message", () => n2.received.some((m) => m.index === 3));
      assert.deepStrictEqual(n2.received.filter((m) => m.index < 3), []);
      assert.equal(n2.transport.stats().inbound.n1.droppedMisaddressed, 2);
      s.ws.close();
      await s.closed;
    } finally {
      await stopNodes([n2]);
    }
  },
});

Deno.test({
  name: "OutboundLink refuses a listener that cannot prove the secret and sends it nothing",
  ...opts,
  fn: async () => {
    let binaryFrames = 0;
    const { server, route } = listen();
    const sockets: WebSocket[] = [];
    route.handle = (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      sockets.push(socket);
      socket.onopen = () =>
        socket.send(JSON.stringify({ t: "challenge", v: 1, nonce: newNonce() }));
      socket.onmessage = (ev) => {
        if (typeof ev.data !== "string") binaryFrames++;
        else socket.send(JSON.stringify({ t: "welcome", mac: btoa("not a real mac") }));
      };
      return response;
    };
    const fake = `http://127.0.0.1:${server.addr.port}`;
    const n1 = startNodeAt("n1", deadPort(), new Map([["n2", fake]]));
    try {
      n1.transport.send([appendMsg("n1", "n2", 1)]);
      await waitFor("client refusal", () => events(n1, "peer_refused").length >= 1);
      assert.equal(events(n1, "peer_refused")[0].details.reason, "bad_server_mac");
      assert.notEqual(n1.transport.stats().outbound.n2.state, "open");
      assert.equal(binaryFrames, 0);
    } finally {
      await within(n1.transport.close(), "n1's transport to close");
      await within(n1.server.shutdown(), "n1's listener to stop");
      for (const s of sockets) if (s.readyState <= WebSocket.OPEN) s.close();
      await within(server.shutdown(), "the fake listener to stop");
    }
  },
});

Deno.test({
  name: "Transport replaces a peer's inbound link when that peer dials again",
  ...opts,
  fn: async () => {
    const [n2] = startNodes(["n2"], {}, new Map([["n1", `http://127.0.0.1:${deadPort()}`]]));
    try {
      const first = await authenticatedSocket(n2.url, "n1", "n2");
      const second = await authenticatedSocket(n2.url, "n1", "n2");
      assert.deepStrictEqual(await first.closed, {
        code: 4000,
        reason: "replaced by a newer link",
      });
      assert.equal(events(n2, "link_replaced").length, 1);
      second.ws.send(encodeFrame([appendMsg("n1", "n2", 7)]));
      await waitFor("delivery on the new link", () => n2.received.length === 1);
      assert.equal(n2.transport.stats().inbound.n1.receivedMessages, 1);
      second.ws.close();
      await second.closed;
    } finally {
      await stopNodes([n2]);
    }
  },
});

Deno.test({
  name:
    "Transport closed while a dialer's upgrade is in flight closes that socket once it opens (no leaked connection)",
  ...opts,
  fn: async () => {
    const [n2] = startNodes(["n2"]);
    // Stop n2 at the moment it accepts: after handleUpgrade, before the upgrade completes.
    let stopping: Promise<void> | undefined;
    const { server, route } = listen(0);
    route.handle = (req) => {
      const response = n2.transport.handleUpgrade(req);
      stopping = n2.transport.close();
      return response;
    };
    const s = rawSocket(`http://127.0.0.1:${server.addr.port}`);
    let closed: { code: number; reason: string } | undefined;
    void s.closed.then((c) => closed = c);
    try {
      await waitFor("the stopped node to close the accepted socket", () => closed !== undefined);
      assert.deepStrictEqual(closed, { code: 4001, reason: "transport closed" });
      assert.deepStrictEqual(s.texts, [], "a stopped node sends no challenge");
      await within(stopping!, "n2's transport to close");
    } finally {
      if (s.ws.readyState <= WebSocket.OPEN) s.ws.close();
      await s.closed;
      await stopNodes([n2]);
      await within(server.shutdown(), "the gating listener to stop");
    }
  },
});

Deno.test({
  name:
    "OutboundLink gives a slow listener more time after a handshake timed out with the socket open (a loaded machine)",
  ...opts,
  fn: async () => {
    // The listener answers a little slower than the dialer's first bound, every time; the grown
    // bounds (2x, 4x) leave it room even on a loaded machine.
    const timeoutMs = 200;
    const { server, route } = listen();
    const sockets: WebSocket[] = [];
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const key = await importSecret("s3cret");
    route.handle = (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      sockets.push(socket);
      const serverNonce = newNonce();
      socket.onopen = () => {
        const t = setTimeout(() => {
          timers.delete(t);
          if (socket.readyState === WebSocket.OPEN) {
            socket.send(JSON.stringify({ t: "challenge", v: 1, nonce: serverNonce }));
          }
        }, timeoutMs * 1.5);
        timers.add(t);
      };
      socket.onmessage = async (ev) => {
        const h = typeof ev.data === "string" ? parseHandshake(ev.data) : undefined;
        if (h?.t !== "hello") return;
        const fields = { clientId: h.clientId, serverId: h.serverId, clusterId: h.clusterId };
        const input = serverProofInput({ clientNonce: h.nonce, serverNonce, ...fields });
        const mac = await sign(key, input);
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({ t: "welcome", mac }));
        }
      };
      return response;
    };
    const slow = `http://127.0.0.1:${server.addr.port}`;
    const n1 = startNodeAt("n1", deadPort(), new Map([["n2", slow]]), {
      limits: { handshakeTimeoutMs: timeoutMs, backoffBaseMs: 10, backoffMaxMs: 20 },
    });
    try {
      await waitFor(
        "the link to open",
        () => n1.transport.stats().outbound.n2.state === "open",
        10_000,
      );
      const failed = events(n1, "link_failed").map((l) => l.details.reason);
      assert.ok(failed.includes("handshake_timeout"), "the first dial timed out");
      assert.equal(n1.transport.stats().outbound.n2.connects, 1);
    } finally {
      await within(n1.transport.close(), "n1's transport to close");
      await within(n1.server.shutdown(), "n1's listener to stop");
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) if (s.readyState <= WebSocket.OPEN) s.close();
      await within(server.shutdown(), "the slow listener to stop");
    }
  },
});

Deno.test({
  name:
    "InboundLink waits for a dialer's hello as long as the most patient dialer waits (HANDSHAKE_PATIENCE_MAX)",
  ...opts,
  fn: async () => {
    // The hello comes at twice the base bound: always past it, well within the listener's 4x.
    const timeoutMs = 250;
    const [n2] = startNodes(["n2"], { n2: { limits: { handshakeTimeoutMs: timeoutMs } } });
    try {
      const s = rawSocket(n2.url);
      await waitFor("challenge", () => s.texts.length === 1);
      const challenge = parseHandshake(s.texts[0]);
      const serverNonce = challenge?.t === "challenge" ? challenge.nonce : "";
      const fields = { clientId: "n1", serverId: "n2", clusterId: "c1" };
      const mac = await sign(
        await importSecret("s3cret"),
        clientProofInput({ serverNonce, ...fields }),
      );
      // A dialer slowed past the base bound, still within its grown one.
      await new Promise((r) => setTimeout(r, timeoutMs * 2));
      s.ws.send(JSON.stringify({ t: "hello", v: 1, ...fields, nonce: newNonce(), mac }));
      await waitFor("welcome", () => s.texts.length === 2);
      assert.equal(parseHandshake(s.texts[1])?.t, "welcome");
      assert.deepStrictEqual(events(n2, "peer_refused"), []);
      s.ws.close();
      await s.closed;
    } finally {
      await stopNodes([n2]);
    }
  },
});

Deno.test({
  name:
    "InboundLink keeps a link whose dialer is silent for a while (a starting node's pings held up), and frees it after HANDSHAKE_PATIENCE_MAX silences",
  ...opts,
  fn: async () => {
    // A dialer that authenticates, then sends no ping: its own start-up holds its event loop.
    const silenceMs = 500;
    const [n2] = startNodes(["n2"], {
      n2: { limits: { keepaliveMs: 50, linkSilenceMs: silenceMs } },
    });
    try {
      const s = await authenticatedSocket(n2.url, "n1", "n2");
      await new Promise((r) => setTimeout(r, silenceMs * 2));
      // Past the dialer's own bound: the listener has not dropped it (the dialer, who hears the
      // pongs, decides when to redial; a redial would replace this link anyway).
      assert.equal(s.ws.readyState, WebSocket.OPEN);
      assert.deepStrictEqual(events(n2, "link_silent"), []);
      // A dialer that never speaks again is still freed.
      assert.deepStrictEqual(await s.closed, { code: 4005, reason: "link silent" });
    } finally {
      await stopNodes([n2]);
    }
  },
});
