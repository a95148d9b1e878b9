/**
 * Wires one node from its configuration: storage, the broker state machine, the node driver,
 * the WebSocket transport and the HTTP app, all on one `Deno.serve` listener.
 *
 * @module
 */

import process from "node:process";
import {
  ClientAwareBlocking,
  NodeDriver,
  slicePacer,
  StaleIncarnationError,
} from "../../cluster/node/mod.ts";
import { LostLogError, type Message } from "../../cluster/raft/mod.ts";
import { openStorage } from "../../cluster/storage/mod.ts";
import { CLUSTER_LINK_PATH, PeerTls, Transport } from "../../cluster/transport/mod.ts";
import { EntryClock } from "../broker/mod.ts";
import type { NodeConfig } from "../config.ts";
import { type AnonymousAccess, createApp, Drain, loadAuthenticator } from "../http/mod.ts";
import { anonymousAccess, isLoopback } from "./access.ts";
import { createUi, EventRing, isUiPath } from "../ui/mod.ts";
import type { Logger } from "../log.ts";
import { MQTT_WS_PATH, mqttGatewayAuth } from "../mqtt/mod.ts";
import { BrokerMachine } from "./broker_machine.ts";
import { ForwardChannels } from "./forward_channel.ts";
import { handleForwardUpgrade } from "./forward_endpoint.ts";
import { FORWARD_PATH } from "./forward_frames.ts";
import { LoopMonitor } from "./loop_monitor.ts";
import { NodeTicker } from "./node_ticker.ts";
import { isPlainApiPath, NodeListener } from "./listener.ts";
import { type NodeMqtt, startNodeMqtt } from "./start_mqtt.ts";
import { privateSocketDir } from "./tls_front.ts";
import { type LoadedTls, loadTls, secretFileWarning } from "./tls.ts";
import { RaftNode } from "./raft_node.ts";
import { fullCollection } from "./memory.ts";
import { ReusedTimer, startIdleCollector, startLeaderTimers } from "./start_timers.ts";
import { openTransport } from "./start_transport.ts";
import {
  COMMIT_NOTICE_MS,
  DEFER_COMMIT_NOTICE,
  ELECTION_TICKS,
  HEARTBEAT_TICKS,
  LOG_CACHE_BYTES,
  SNAPSHOT_ENTRIES_MAX,
  SNAPSHOT_EVERY_ENTRIES,
  SNAPSHOT_LOG_BYTES_MAX,
  SNAPSHOT_LOG_FACTOR,
  TICK_MS,
} from "./raft_settings.ts";

export { TICK_MS };

/** How long shutdown waits for in-flight HTTP requests (writes) to be answered. */
const SERVER_SHUTDOWN_MS = 2_000;

/** Resolves when `p` settles or after `ms`, whichever is first. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p.catch(() => {}), new Promise((r) => timer = setTimeout(r, ms))]);
  clearTimeout(timer);
}

export interface RunningNode {
  readonly node: RaftNode;
  readonly driver: NodeDriver;
  readonly url: string;
  /** The bound MQTT port, when `--mqtt-listen` is on. */
  readonly mqttPort?: number;
  /** The bound MQTT-over-TLS port, when `--mqtt-tls-listen` is on. */
  readonly mqttTlsPort?: number;
  /**
   * Reads the certificate files again (SIGHUP) and, when they pass their checks, uses them for
   * every new connection: dials, the listener, MQTT over TLS. Open links keep going. Throws (and
   * changes nothing) when a file is unreadable or fails a check.
   */
  reloadTls(): Promise<void>;
  /** Graceful stop: leadership transfer if leader, finish in-flight requests, close. */
  shutdown(): Promise<void>;
}

export async function startNode(config: NodeConfig, log: Logger): Promise<RunningNode> {
  // Certificates first: a node that cannot serve what it was told to must not start half-way.
  const tls = await loadTls(config);
  const peerTls = tls.peer === undefined ? undefined : new PeerTls(tls.peer);
  if (config.secretFile !== undefined) {
    const warning = secretFileWarning(config.secretFile);
    if (warning !== undefined) log.warn("secret_file_readable", { detail: warning });
  }
  const core = await openCore(config, log, peerTls);
  const { storage, machine, transport, loop, node, ticker } = core;
  const api = await createApi(config, log, core, peerTls);
  const stopTimers = startLeaderTimers(node.driver, node.raft, machine, node.clock, ticker);
  const stopIdleCollector = startIdleCollector(node.driver, log, ticker);
  // MQTT speaks to this node's own API in process: forwarding, auth and validation are the API's.
  // With TLS, the listeners behind the TLS fronts (tls_front.ts) live on Unix sockets here.
  const socketDir = tls.listener === undefined ? undefined : await privateSocketDir(config.dataDir);
  const mqtt = await startNodeMqtt({
    config,
    log,
    tls,
    socketDir,
    fetch: api.app.fetch,
    inProcess: api.app.inProcess,
    auth: api.auth,
    gatewayAuth: api.gatewayAuth,
    anonymous: api.anonymous,
    machine,
    driver: node.driver,
    entryTimeMs: () => node.raft.entryTimeMs(),
  });
  const { server, url } = await listen(config, log, tls, socketDir, core, api, mqtt, peerTls);
  const reloadTls = tlsReloader(config, log, peerTls, mqtt, server);

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      log.info("node_stopping", {});
      // First what callers wait on, so they move to another node while this one hands over.
      api.drain.begin();
      const mqttClosed = mqtt.gateway?.close();
      await handOverLeadership(node.driver);
      stopTimers();
      stopIdleCollector();
      mqtt.front?.stopAccepting();
      await mqttClosed;
      mqtt.front?.destroyAll();
      if (mqtt.tls !== undefined) await Deno.remove(mqtt.tls.innerPath).catch(() => {});
      // Streams answer what is in flight and close with their reason before the listener goes.
      await api.drain.closed(SERVER_SHUTDOWN_MS);
      // In-flight writes finish; a connection that outlives the bound (a dashboard's live
      // updates, a client that keeps a socket open) is cut by the process exit.
      await within(server.shutdown(), SERVER_SHUTDOWN_MS);
      api.forwarding.close();
      await node.driver.close();
      node.notice.close();
      await transport.close();
      await storage.close();
      loop.stop();
      ticker.stop();
      log.info("node_stopped", {});
    })();
  return {
    node: node.raft,
    driver: node.driver,
    url,
    ...(mqtt.gateway?.port !== undefined ? { mqttPort: mqtt.gateway.port } : {}),
    ...(mqtt.front !== undefined ? { mqttTlsPort: mqtt.front.port } : {}),
    reloadTls,
    shutdown,
  };
}

/** Storage, the broker, the transport to the peers and the driver: the node's Raft side. */
async function openCore(config: NodeConfig, log: Logger, peerTls: PeerTls | undefined) {
  const storage = await openStorage(`${config.dataDir}`, config.storage, {
    log: (msg) => log.warn("storage_recovery", { detail: msg }),
    // Test-only: where the log is durable, so the chaos suite can cut the files back to it when
    // it simulates power loss (everything after it was only in the page cache).
    ...(config.testFaults ? { afterSync: recordDurable(config.dataDir) } : {}),
  });
  const machine = new BrokerMachine().answerOwnProposalsOnly(); // the batcher tells of each proposal
  // A lone node without --secret still needs a transport object; no peer can prove a random
  // secret, so until the operator sets one, no node can join (addMember refuses, see below).
  const clusterSecret = config.secret ?? crypto.randomUUID();
  const peers = new Map(config.peers.map((p) => [p.id, p.url]));
  const holder: { driver?: NodeDriver } = {};
  const ticker = new NodeTicker(TICK_MS); // Raft's tick and the node's other periodic work
  const receive = (msgs: Message[]) => holder.driver?.receive(msgs);
  const transport = openTransport(config, log, peerTls, clusterSecret, peers, ticker, receive);
  const loop = new LoopMonitor(); // the event-loop delay probe, whose figures `snapshot_taken` logs
  loop.run(ticker);
  // The dashboard's recent events: what the driver logs about elections, membership, snapshots.
  const events = new EventRing();
  const timing = { loop, ticker, events };
  const node = await openDriver(config, log, storage, machine, transport, peers, timing);
  holder.driver = node.driver;
  followMembers(node.driver, transport, peers);
  return { storage, machine, clusterSecret, transport, loop, events, node, ticker };
}

/** The transport links to the members the log names, as it changes. */
function followMembers(driver: NodeDriver, transport: Transport, peers: Map<string, string>) {
  // Called after every applied batch: the version check keeps that to one comparison (copying
  // and comparing the map cost ~4 µs per sequential message on a follower).
  let seen = -1;
  let seenAhead: unknown = undefined;
  const syncPeers = () => {
    // While a restarted node replays its log, it also dials the members named further on
    // (`NodeDriver.urlsAhead`, chaos F10); the newer URL wins for a member named in both.
    const ahead = driver.urlsAhead;
    if (driver.urls.version === seen && ahead === seenAhead) return;
    seen = driver.urls.version;
    seenAhead = ahead;
    const urls = new Map([...driver.urls.entries(), ...ahead]);
    if (!sameMap(urls, peers)) {
      peers.clear();
      for (const [id, url] of urls) peers.set(id, url);
      transport.setPeers(urls);
    }
  };
  driver.onApplied(syncPeers);
  // Also now: the membership restored from a snapshot at start (or replayed before this
  // listener existed) must reach the transport, or the links of members added since `--peers`
  // are refused as unknown and this node never hears the leader that would advance it (a
  // restarted node stayed 15k entries behind for good in a long chaos run).
  syncPeers();
}

type Core = Awaited<ReturnType<typeof openCore>>;

/** The HTTP API and the dashboard over the node, with auth, forwarding and the drain. */
async function createApi(
  config: NodeConfig,
  log: Logger,
  { node, transport, clusterSecret, events }: Core,
  peerTls: PeerTls | undefined,
) {
  const auth = config.authFile === undefined
    ? undefined
    : await loadAuthenticator(await Deno.readTextFile(config.authFile));
  const anonymous = anonymousAccess(config);
  logAccess(config, anonymous, log);
  // Writes a follower receives go to the leader over one WebSocket (forward_channel.ts).
  const forwarding = new ForwardChannels(
    {},
    peerTls === undefined ? undefined : { selfId: config.id, clusterId: config.clusterId, peerTls },
  );
  // SIGTERM: long polls, streams and new requests are answered at once (src/http/drain.ts).
  const drain = new Drain();
  // Auth on: MQTT requests a follower forwards prove they are its gateway's (gateway_proof.ts).
  const gatewayAuth = auth === undefined ? undefined : mqttGatewayAuth(auth, clusterSecret);
  const app = createApp({
    drain,
    node: node.raft,
    ...(auth ? { auth } : {}),
    ...(gatewayAuth ? { gatewayAuth } : {}),
    anonymous,
    metricsPublic: config.metricsPublic,
    limits: { maxBodyBytes: config.maxBodyBytes },
    log,
    leaderFetch: forwarding.fetch,
    // `--test-faults` only: the link fault seam at `/v1/admin/faults` (docs/transport.md).
    ...(transport.faults ? { faults: transport.faults } : {}),
    corsOrigins: config.corsOrigins,
  });
  const ui = createUi({
    node: node.raft,
    api: app.fetch,
    ...(auth ? { auth } : {}),
    anonymousActs: anonymous.open,
    events,
  });
  return { auth, anonymous, forwarding, drain, gatewayAuth, app, ui };
}

/** The client listener: the API, the dashboard, peer links, forwarded writes and MQTT over WS. */
async function listen(
  config: NodeConfig,
  log: Logger,
  tls: LoadedTls,
  socketDir: string | undefined,
  { transport, storage }: Core,
  { app, ui }: Awaited<ReturnType<typeof createApi>>,
  mqtt: NodeMqtt,
  peerTls: PeerTls | undefined,
) {
  const forwardCheck = peerTls === undefined ? undefined : { clusterId: config.clusterId, peerTls };
  const server = await NodeListener.start(
    config.listen.hostname,
    config.listen.port,
    tls.listener,
    (req) => {
      // The API's own paths need no URL parse to tell them from the peer, dashboard and MQTT
      // paths below (~1.5 µs per request of the hot routes).
      if (isPlainApiPath(req.url)) return app.fetch(req);
      const path = new URL(req.url).pathname;
      if (path === CLUSTER_LINK_PATH) return transport.handleUpgrade(req);
      if (path === FORWARD_PATH) {
        return handleForwardUpgrade(req, app.fetch, log, {
          check: forwardCheck,
          direct: app.forwarded,
        });
      }
      if (isUiPath(path)) return ui.fetch(req);
      if (path === MQTT_WS_PATH && mqtt.gateway !== undefined) {
        return mqtt.gateway.handleUpgrade(req);
      }
      return app.fetch(req);
    },
    log,
    socketDir,
  );
  const url = `${server.secure ? "https" : "http"}://${config.listen.hostname}:${server.port}`;
  log.info("node_listening", {
    url,
    advertise: config.advertise,
    storage: config.storage,
    // The data directory's incarnation, which the cluster records for this member.
    incarnation: storage.incarnation,
    cpuMs: processCpuMs(),
    ...(tls.listener ? { tlsSubject: tls.listener.subject, tlsValidTo: tls.listener.validTo } : {}),
    ...(tls.peer ? { peerTlsSubject: tls.peer.leaf.subject } : {}),
  });
  return { server, url };
}

/** `RunningNode.reloadTls`: one reload at a time, each after the last settled. */
function tlsReloader(
  config: NodeConfig,
  log: Logger,
  peerTls: PeerTls | undefined,
  mqtt: NodeMqtt,
  server: NodeListener,
): () => Promise<void> {
  let reloading = Promise.resolve();
  return () =>
    reloading = reloading.catch(() => {}).then(async () => {
      const next = await loadTls(config);
      if (next.peer !== undefined) peerTls?.replace(next.peer);
      if (next.listener !== undefined) {
        mqtt.front?.replace(next.listener.cert, next.listener.key);
        server.replaceTls(next.listener);
      }
      log.info("tls_reloaded", {
        ...(next.listener
          ? { tlsSubject: next.listener.subject, tlsValidTo: next.listener.validTo }
          : {}),
        ...(next.peer ? { peerTlsSubject: next.peer.leaf.subject } : {}),
      });
    });
}

async function openDriver(
  config: NodeConfig,
  log: Logger,
  storage: Awaited<ReturnType<typeof openStorage>>,
  machine: BrokerMachine,
  transport: Transport,
  peers: Map<string, string>,
  { loop, ticker, events }: { loop: LoopMonitor; ticker: NodeTicker; events: EventRing },
): Promise<{ driver: NodeDriver; raft: RaftNode; clock: EntryClock; notice: ReusedTimer }> {
  const holder: { raft?: RaftNode } = {};
  const notice = new ReusedTimer();
  const clients = new ClientAwareBlocking(); // the RaftNode tells it of clients' requests
  const driver = await NodeDriver.open({
    raft: {
      id: config.id,
      clusterId: config.clusterId,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      random: Math.random,
      deferCommitNotice: DEFER_COMMIT_NOTICE,
      logCacheBytes: LOG_CACHE_BYTES,
    },
    bootstrapConf: config.join
      ? { voters: [], learners: [] }
      : { voters: [...peers.keys()], learners: [] },
    bootstrapUrls: peers,
    storage,
    dataIncarnation: storage.incarnation,
    sink: transport,
    stateMachine: machine,
    startTicker: (ms, fn) => ticker.every(ms, fn),
    tickMs: TICK_MS,
    startTimer: (ms, fn) => notice.start(ms, fn),
    commitNoticeDelayMs: COMMIT_NOTICE_MS,
    blockingPersist: clients.blocking,
    snapshotEveryEntries: SNAPSHOT_EVERY_ENTRIES,
    snapshotLogFactor: SNAPSHOT_LOG_FACTOR,
    snapshotEntriesMax: SNAPSHOT_ENTRIES_MAX,
    snapshotLogBytesMax: SNAPSHOT_LOG_BYTES_MAX,
    log: (level, event, details) => {
      if (event === "snapshot_started") loop.begin();
      // Where the node's memory is as a snapshot starts and ends (startup_bench reads it): the
      // leader's RSS ran ~250 MB above its followers' while a backlog was built.
      if (event === "snapshot_started" || event === "snapshot_taken") {
        details = { ...details, ...memoryMB() };
      }
      if (event === "snapshot_taken") {
        const { during, duringAt, before, busy } = loop.end();
        details = {
          ...details,
          loopDelayMaxMs: Math.round(during),
          // When that turn came (it was late by loopDelayMaxMs), to line up with outside probes.
          ...(Number.isFinite(duringAt)
            ? { loopDelayMaxAt: new Date(performance.timeOrigin + duringAt).toISOString() }
            : {}),
          loopDelayMaxBeforeMs: Math.round(before),
          ...(busy === undefined ? {} : { loopBusyMaxMs: Math.round(busy) }),
        };
      }
      // The CPU the process used so far: start-up on a busy machine waits for cores, not work.
      if (
        event === "node_started" || event === "snapshot_restored" ||
        event === "replay_committed" || event === "replay_done"
      ) {
        details = { ...details, cpuMs: processCpuMs() };
      }
      log[level](event, details);
      events.record(event, details);
    },
    onFatal: (e) => {
      if (e instanceof StaleIncarnationError || e instanceof LostLogError) {
        // Only the operator can cure it: exit 2, like a bad option (no restart loop).
        const what = staleIncarnationHelp(config, e);
        log.error("member_incarnation_stale", { detail: what });
        console.error(`quorumq: ${what}`);
        Deno.exit(2);
      }
      log.error("node_fatal_exit", { error: String(e) });
      Deno.exit(70);
    },
    observePersistMs: (ms) => holder.raft?.fsyncSeconds.observe(ms / 1000),
    nowMs: () => performance.now(),
    pace: slicePacer(),
    collectGarbage: fullCollection,
  });
  const clock = new EntryClock({
    monoNowMs: () => performance.now(),
    wallNowMs: Date.now,
    lastEntryTs: () => machine.lastTs,
    leading: () => driver.leading,
  });
  driver.onApplied(() => clock.observe());
  const raft = new RaftNode(driver, machine, clock, {
    memoryStorage: config.storage === "memory",
    canAddMembers: config.secret !== undefined,
    onFollowerClient: () => clients.noteClient(),
  });
  holder.raft = raft;
  return { driver, raft, clock, notice };
}

/** If leader, hand leadership to the most up-to-date follower and wait a little for it. */
async function handOverLeadership(driver: NodeDriver): Promise<void> {
  const s = driver.status();
  if (s.role !== "leader" || s.conf.voters.length < 2) return;
  const r = driver.transferLeadership();
  if (!r.ok) return;
  for (let i = 0; i < 40 && driver.status().role === "leader"; i++) {
    await new Promise((res) => setTimeout(res, 50));
  }
}

/**
 * What the operator must do when the cluster knows this node's id with another data directory
 * (`StaleIncarnationError`), or its leader counts it holding entries its log lost (`LostLogError`).
 */
export function staleIncarnationHelp(config: NodeConfig, e: Error): string {
  return `${e.message} This node stops now. To bring it back: (1) remove it through any ` +
    `member (with an admin token when auth is on): curl -X DELETE ` +
    `<member-url>/v1/cluster/members/${config.id}; (2) empty ${config.dataDir} and start this ` +
    `node again with --join added (same --id ${config.id}); (3) add it: curl -X ` +
    `POST <member-url>/v1/cluster/members -H 'content-type: application/json' -d ` +
    `'{"id":"${config.id}","url":"${config.advertise}"}'.`;
}

/** A warning whenever callers without a token are refused, or allowed beyond one machine. */
function logAccess(config: NodeConfig, anonymous: AnonymousAccess, log: Logger): void {
  if (config.authFile !== undefined) return;
  if (!anonymous.open) {
    log.warn("anonymous_refused", { detail: anonymous.why });
  } else if (config.peers.length > 1 || config.join || !isLoopback(config.listen.hostname)) {
    log.warn("anonymous_allowed", {
      detail: "--allow-anonymous without --auth-file: anyone who can reach this node may " +
        "write, purge queues and change the membership",
    });
  }
}

/** User + system CPU time of this process (every thread, the GC's included), in ms. */
/** RSS, V8 heap used and external (array buffer) memory, in MB. */
function memoryMB(): { rssMB: number; heapMB: number; externalMB: number } {
  const m = Deno.memoryUsage();
  const mb = (x: number) => Math.round(x / 2 ** 20);
  return { rssMB: mb(m.rss), heapMB: mb(m.heapUsed), externalMB: mb(m.external) };
}

function processCpuMs(): number {
  const u = process.cpuUsage();
  return Math.round((u.user + u.system) / 1000);
}

function sameMap(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** The file where a `--test-faults` node records its durable log end: `<segment> <bytes>`. */
export const DURABLE_FILE = "durable_offset";

function recordDurable(dataDir: string): (segmentPath: string, bytes: number) => void {
  const path = `${dataDir}/${DURABLE_FILE}`;
  return (segmentPath, bytes) => {
    const name = segmentPath.slice(segmentPath.lastIndexOf("/") + 1);
    Deno.writeTextFileSync(path, `${name} ${bytes}\n`);
  };
}
