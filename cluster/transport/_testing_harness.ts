/**
 * Test helpers: real `Deno.serve` listeners on 127.0.0.1 port 0 with a `Transport` each.
 * Folder-private; used only by the tests and the benchmark.
 *
 * @module
 */

import type { Message, NodeId } from "../raft/mod.ts";
import { CLUSTER_LINK_PATH, Transport, type TransportOptions } from "./mod.ts";

export interface LogLine {
  readonly event: string;
  readonly details: Record<string, unknown>;
}

/** One node under test: its listener, its transport and what it received and logged. */
export interface TestNode {
  readonly id: NodeId;
  readonly port: number;
  readonly url: string;
  transport: Transport;
  readonly received: Message[];
  readonly logs: LogLine[];
  server: Deno.HttpServer<Deno.NetAddr>;
}

/** Starts a listener whose cluster path goes to `node.transport` (set right after). */
export function listen(port = 0): {
  server: Deno.HttpServer<Deno.NetAddr>;
  port: number;
  route: { handle: (req: Request) => Response };
} {
  const route = { handle: (_req: Request): Response => new Response("not ready", { status: 503 }) };
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname === CLUSTER_LINK_PATH) return route.handle(req);
    return new Response("not found", { status: 404 });
  });
  return { server, port: server.addr.port, route };
}

export type NodeOverrides = Partial<Omit<TransportOptions, "onMessages" | "log" | "peers">>;

/**
 * Starts nodes `ids` that all know each other (same cluster "c1", secret "s3cret" unless
 * overridden). `extraPeers` adds ids → URLs (e.g. dead peers) to every node's peer set.
 */
export function startNodes(
  ids: readonly NodeId[],
  overrides: Record<NodeId, NodeOverrides> = {},
  extraPeers: ReadonlyMap<NodeId, string> = new Map(),
): TestNode[] {
  const listeners = ids.map(() => listen());
  const peers = new Map<NodeId, string>(extraPeers);
  ids.forEach((id, i) => peers.set(id, `http://127.0.0.1:${listeners[i].port}`));
  return ids.map((id, i) => {
    const { server, port, route } = listeners[i];
    const node = {
      id,
      port,
      url: peers.get(id)!,
      received: [],
      logs: [],
      server,
    } as unknown as TestNode;
    node.transport = makeTransport(node, peers, overrides[id] ?? {});
    route.handle = (req) => node.transport.handleUpgrade(req);
    return node;
  });
}

/** Builds a transport that records into `node`. */
export function makeTransport(
  node: TestNode,
  peers: ReadonlyMap<NodeId, string>,
  overrides: NodeOverrides,
): Transport {
  return new Transport({
    selfId: node.id,
    clusterId: "c1",
    secret: "s3cret",
    peers,
    selfUrl: node.url,
    onMessages: (msgs) => node.received.push(...msgs),
    log: (event, details) => node.logs.push({ event, details }),
    limits: { backoffBaseMs: 10, backoffMaxMs: 100 },
    ...overrides,
  });
}

/**
 * Closes transports first (their sockets), then the listeners. Each step is bounded: a close or
 * shutdown that never completes fails the test, naming the step, instead of hanging the run
 * (`Transport.close` is bounded by design at ~2 s; `Deno.serve`'s shutdown waits for ever on an
 * upgrade whose dialer hung up before the response was handed over).
 */
export async function stopNodes(nodes: readonly TestNode[]): Promise<void> {
  const ids = nodes.map((n) => n.id).join(", ");
  await within(Promise.all(nodes.map((n) => n.transport.close())), `${ids}: transports to close`);
  await within(Promise.all(nodes.map((n) => n.server.shutdown())), `${ids}: listeners to stop`);
}

/**
 * `p`, or a failure naming `what` after `timeoutMs`: every wait in these tests is bounded, so a
 * wait that would never end fails the test (it never passes it).
 */
export async function within<T>(p: Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every 5 ms; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An append-like message with `dataBytes` of patterned entry data. */
export function appendMsg(from: NodeId, to: NodeId, index: number, dataBytes = 16): Message {
  const data = new Uint8Array(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = (index + i) & 0xff;
  return {
    type: "append",
    clusterId: "c1",
    from,
    to,
    term: 3,
    logTerm: 3,
    index,
    commit: index - 1,
    entries: [{ term: 3, index: index + 1, kind: 0, data }],
  };
}

/** A port that was just free (bound, then released): dialing it is refused. */
export function deadPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The events named `event` in `node`'s log. */
export function events(node: TestNode, event: string): LogLine[] {
  return node.logs.filter((l) => l.event === event);
}

/** Starts node `id` on a fixed `port` (a restart, or a peer that was dead) with `peers`. */
export function startNodeAt(
  id: NodeId,
  port: number,
  peers: ReadonlyMap<NodeId, string>,
  overrides: NodeOverrides = {},
): TestNode {
  const { server, route } = listen(port);
  const node = { id, port, url: `http://127.0.0.1:${port}`, server, received: [], logs: [] };
  const full = node as unknown as TestNode;
  full.transport = makeTransport(full, peers, overrides);
  route.handle = (req) => full.transport.handleUpgrade(req);
  return full;
}
