/**
 * One MQTT client connection: CONNECT and its checks, keep-alive, PINGREQ, DISCONNECT, and the
 * dispatch of the other packets to the inbound (PUBLISH) and outbound (SUBSCRIBE, deliveries)
 * halves. A refused stream or packet closes the connection with its reason code and a log line;
 * nothing here can take the node down.
 *
 * @module
 */

import type { IConnectPacket, IPublishPacket, Packet } from "mqtt-packet";
import { MqttAccess } from "./access.ts";
import { BrokerApi, MQTT_TOPIC } from "./broker_api.ts";
import { type AckCmd, Inbound, type InboundHost } from "./inbound.ts";
import { INFLIGHT_MAX, Outbound } from "./outbound.ts";
import { sharedNoLocal } from "./filter_options.ts";
import { sessionSubscription } from "./subscriptions.ts";
import { willRefusal } from "./will.ts";
import {
  SESSION_EXPIRY_MS_MAX,
  SessionClaim,
  sessionExpiryMs,
  type SessionOwner,
} from "./session.ts";
import { type ByteStream, Wire, type WireError } from "./wire.ts";
import { monotonicNow, watchKeepAlive } from "./keep_alive.ts";
import type { GatewayContext } from "./gateway_context.ts";

/** v5 CONNACK and DISCONNECT reason codes this gateway uses. */
export const REASON = {
  unspecified: 0x80,
  malformed: 0x81,
  protocolError: 0x82,
  unsupportedVersion: 0x84,
  badClientId: 0x85,
  notAuthorized: 0x87,
  serverShuttingDown: 0x8b,
  keepAliveTimeout: 0x8d,
  takenOver: 0x8e,
  topicInvalid: 0x90,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
} as const;

/** The v3.1.1 CONNACK return code for a v5 reason. */
function v3ReturnCode(reason: number): number {
  if (reason === REASON.unsupportedVersion) return 1;
  if (reason === REASON.badClientId) return 2;
  if (reason === REASON.notAuthorized) return 5;
  return 3; // server unavailable
}

/**
 * The most packets waiting to be handled one after another (`#after`): past it, the socket is
 * not read until they are (a client's flood of packets is held back by TCP, not kept in memory).
 */
const WAITING_MAX = 10_000;

/** A CONNECT's token, accepted: the API as that principal, and what it may do. */
interface Authorized {
  readonly api: BrokerApi;
  readonly access: MqttAccess;
}

/** The topic aliases a v5 client may set (CONNACK topic alias maximum). */
const TOPIC_ALIAS_MAX = 64;

export class MqttConnection {
  readonly #ctx: GatewayContext;
  readonly #wire: Wire;
  readonly #remote: string;
  #connect: IConnectPacket | undefined;
  #clientId = "";
  /** This connection's hold on its session, once CONNECT took it. */
  #session: SessionClaim | undefined;
  /** The session expiry (ms) the release uses; a v5 DISCONNECT may change it. */
  #expireMs: number | undefined;
  #inbound: Inbound | undefined;
  #outbound: Outbound | undefined;
  #lastPacketAt = monotonicNow();
  readonly #aliases = new Map<number, string>();
  /** Topic aliases this side set (server to client, v5): topic → alias. */
  readonly #aliasesOut = new Map<string, number>();
  /** A DISCONNECT came (v5: without "disconnect with will"): the Last Will is not published. */
  #disconnected = false;
  /** Stops the keep-alive watch (`watchKeepAlive`), once CONNECT started it. */
  #stopKeepAlive = (): void => {};
  /** The socket is not read while a backlog is worked off: the client is not silent then. */
  #holding = false;
  /** Packets are handled one after another, in arrival order (CONNECT first, whole). */
  #handling: Promise<void> = Promise.resolve();
  /** How many of them wait in `#handling` (0: a packet may be handled at once). */
  #waiting = 0;

  constructor(ctx: GatewayContext, conn: ByteStream) {
    this.#ctx = ctx;
    this.#wire = new Wire(conn, ctx.maxPacketBytes);
    this.#remote = conn.remote;
  }

  get clientId(): string {
    return this.#clientId;
  }

  /** The session key and holder, once CONNECT took the session. */
  get session(): SessionClaim | undefined {
    return this.#session;
  }

  async run(): Promise<void> {
    await this.#wire.read({
      packet: (p) => {
        this.#lastPacketAt = monotonicNow();
        // A PUBLISH with no packet before it still being handled only joins the inbound queue:
        // at once, without two promises and a turn of the microtask queue per message.
        if (this.#waiting === 0 && p.cmd === "publish" && this.#inbound !== undefined) {
          try {
            return this.#onPublish(p);
          } catch (e) {
            return this.fail(REASON.unspecified, `internal: ${e}`);
          }
        }
        this.#after(() => this.#onPacket(p));
      },
      // The PUBLISHes of one read go to the log together: one batch, one commit.
      read: () => {
        if (this.#waiting === 0) this.#inbound?.flush();
        else this.#after(() => this.#inbound?.flush());
        return this.#backlog();
      },
      // After the packets before it: a CONNECT still being answered gets its CONNACK first.
      error: (e) => this.#after(() => this.#onWireError(e)),
    });
    await this.#handling;
    this.#closed();
  }

  /**
   * Undefined while the packets waiting here and in the inbound half are within their bounds;
   * else a promise that resolves once they are: the socket is read again then.
   */
  #backlog(): Promise<void> | undefined {
    const wait = this.#waiting > WAITING_MAX ? this.#handling : this.#inbound?.backlog();
    if (wait === undefined) return undefined;
    this.#holding = true;
    return wait.finally(() => {
      this.#holding = false;
      this.#lastPacketAt = monotonicNow();
    });
  }

  /** Runs `f` after the packets before it are handled, in arrival order. */
  #after(f: () => void | Promise<void>): void {
    this.#waiting++;
    this.#handling = this.#handling.then(f)
      .catch((e) => this.fail(REASON.unspecified, `internal: ${e}`))
      .then(() => void this.#waiting--);
  }

  /** Ends the connection with a v5 DISCONNECT (reason) first, and logs why. */
  fail(reason: number, detail: string): void {
    if (this.#wire.closed) return;
    this.#ctx.log.warn("mqtt_connection_closed", {
      remote: this.#remote,
      clientId: this.#clientId,
      reasonCode: reason,
      detail,
    });
    if (this.#connect?.protocolVersion === 5) {
      this.#wire.send({ cmd: "disconnect", reasonCode: reason });
    }
    this.#wire.end();
  }

  /** The node is shutting down: v5 DISCONNECT 0x8B, then close (v3.1.1: close). */
  async shutDown(): Promise<void> {
    this.#wire.goingAway = true;
    this.fail(REASON.serverShuttingDown, "server shutting down");
    await this.#wire.end(); // resolves once the DISCONNECT is written
  }

  /**
   * Another connection of this client id took the session (on any node): this one closes. Its
   * release at the end is a no-op: the claim is no longer this connection's.
   */
  takeOver(): void {
    this.fail(REASON.takenOver, "the same client id connected again");
    this.#outbound?.stop();
  }

  #onWireError(e: WireError): void {
    if (this.#connect === undefined && e.kind === "bad_protocol") {
      // Unknown protocol level: CONNACK 0x01 (v3.1.1 form, the client's version is unknown).
      this.#ctx.log.warn("mqtt_connection_closed", { remote: this.#remote, detail: e.detail });
      this.#wire.send({ cmd: "connack", returnCode: 1, sessionPresent: false });
      this.#wire.end();
      return;
    }
    const reason = e.kind === "oversized" ? REASON.packetTooLarge : REASON.malformed;
    this.fail(reason, `${e.kind}: ${e.detail}`);
  }

  async #onPacket(p: Packet): Promise<void> {
    if (p.cmd === "connect") return await this.#onConnect(p);
    if (this.#connect === undefined) {
      return this.fail(REASON.protocolError, `${p.cmd} before CONNECT`);
    }
    switch (p.cmd) {
      case "pingreq":
        this.#wire.send({ cmd: "pingresp" });
        return;
      case "disconnect": {
        // v5: DISCONNECT may change the session expiry, but not from 0 (MQTT 5 3.14.2.2.2): a
        // protocol error, not taken as a DISCONNECT (the expiry stays, the will goes).
        const interval = p.properties?.sessionExpiryInterval;
        if (interval && this.#expireMs === 0) {
          return this.fail(REASON.protocolError, `session expiry ${interval} after 0`);
        }
        this.#disconnected = p.reasonCode !== 0x04;
        if (interval !== undefined && this.#expireMs !== 0) {
          this.#expireMs = sessionExpiryMs(true, false, interval);
        }
        this.#outbound?.stop();
        this.#wire.close();
        return;
      }
      case "publish":
        return this.#onPublish(p);
      case "pubrel":
        return this.#inbound?.pubrel(p);
      case "subscribe": {
        // MQTT 5 3.8.3-4: No Local on a shared subscription is a protocol error; nothing is taken.
        const nl = this.#connect?.protocolVersion === 5 ? sharedNoLocal(p) : undefined;
        if (nl !== undefined) return this.fail(REASON.protocolError, `No Local on ${nl}`);
        return await this.#outbound?.subscribe(p);
      }
      case "unsubscribe":
        return await this.#outbound?.unsubscribe(p);
      case "puback":
        return this.#outbound?.puback(p.messageId ?? 0);
      case "pubrec":
        return this.#outbound?.pubrec(p.messageId ?? 0);
      case "pubcomp":
        return this.#outbound?.pubcomp(p.messageId ?? 0);
      default:
        return this.fail(REASON.protocolError, `unexpected ${p.cmd}`);
    }
  }

  async #onConnect(p: IConnectPacket): Promise<void> {
    if (this.#connect !== undefined) return this.fail(REASON.protocolError, "a second CONNECT");
    this.#connect = p;
    const v5 = p.protocolVersion === 5;
    this.#wire.version = v5 ? 5 : 4;
    let clientId = p.clientId;
    if (clientId === "") {
      if (!v5 && !p.clean) return this.#refuse(REASON.badClientId, "empty client id, not clean");
      clientId = `auto-${crypto.randomUUID()}`;
    }
    this.#clientId = clientId;
    if (this.#ctx.refuseAnonymous !== undefined) {
      return this.#refuse(REASON.notAuthorized, this.#ctx.refuseAnonymous);
    }
    // A will that could never be published is refused now, not dropped at the connection's end.
    const will = p.will === undefined ? undefined : willRefusal(p.will);
    if (will !== undefined) {
      if (v5) return this.#refuse(will.reason, will.detail);
      return this.fail(will.reason, will.detail);
    }
    const api = await this.#authorized(p);
    if (api === undefined) return;
    const owner = { clientId, principal: api.access.principal?.name };
    const holder = this.#ctx.holderPrefix + crypto.randomUUID();
    const host = this.#host(p, api, owner, holder);
    this.#inbound = new Inbound(host);
    const cleanStart = p.clean !== false;
    this.#expireMs = sessionExpiryMs(v5, cleanStart, p.properties?.sessionExpiryInterval);
    // Takes the session (a clean start drops the old one in the same entry): the connection
    // that held it, on whichever node, is closed when that node applies this.
    const session = new SessionClaim(api.api, owner, holder);
    const taken = await session.take({
      fresh: cleanStart,
      subscriptions: ([0, 1, 2] as const).map((q) => sessionSubscription(owner, q)),
      expireMs: this.#expireMs,
    });
    if (!("present" in taken)) {
      const reason = taken.status === 403 ? REASON.notAuthorized : REASON.unspecified;
      return this.#refuse(reason, `session claim: ${taken.status} ${taken.body?.detail ?? ""}`);
    }
    this.#session = session;
    const same = this.#ctx.live.get(session.key);
    if (same === undefined) this.#ctx.live.set(session.key, new Set([this]));
    else same.add(this);
    // MQTT 5 receive maximum: the most QoS 1/2 deliveries the client takes unacknowledged.
    const receiveMaximum = p.properties?.receiveMaximum ?? INFLIGHT_MAX;
    const persistent = this.#expireMs !== 0;
    this.#outbound = new Outbound(
      host,
      { cleanStart, endsWithConnection: !persistent, receiveMaximum },
      this.#ctx.log,
      persistent ? (data) => session.saveData(data) : undefined,
    );
    const hadFilters = await this.#outbound.open(taken.options);
    const sessionPresent = !cleanStart && (taken.present || hadFilters);
    this.#wire.send(this.#connack(p, clientId, sessionPresent));
    this.#ctx.log.info("mqtt_connected", {
      remote: this.#remote,
      clientId,
      version: p.protocolVersion,
    });
    // A client silent for 1.5 × its keep-alive is gone (MQTT 3.1.2.10); not while unread.
    this.#stopKeepAlive = watchKeepAlive(
      p.keepalive ?? 0,
      () => this.#holding ? undefined : this.#lastPacketAt,
      (limitMs) => this.fail(REASON.keepAliveTimeout, `silent for more than ${limitMs} ms`),
    );
    if (!cleanStart) this.#outbound.resumePubrels(taken.pubrels);
    this.#outbound.start();
    if (!cleanStart && taken.shared.length > 0) await this.#outbound.restoreShared(taken.shared);
  }

  /** What the connection's two halves act through, for the session of `owner`. */
  #host(p: IConnectPacket, api: Authorized, owner: SessionOwner, holder: string): InboundHost {
    const v5 = p.protocolVersion === 5;
    const clientId = owner.clientId;
    // v5: the client's topic alias maximum is how many aliases this side may set.
    const aliasMax = v5 ? Math.min(p.properties?.topicAliasMaximum ?? 0, TOPIC_ALIAS_MAX) : 0;
    return {
      api: api.api,
      access: api.access,
      clientId,
      owner,
      holder,
      live: () => !this.#wire.closed,
      version: v5 ? 5 : 4,
      maxBodyBytes: this.#ctx.maxBodyBytes,
      clientMaxPacketBytes: v5 ? p.properties?.maximumPacketSize : undefined,
      send: (pk: Packet) => this.#wire.send(aliasMax > 0 ? this.#aliasOut(pk, aliasMax) : pk),
      ack: (cmd: AckCmd, messageId: number, reasonCode: number) =>
        this.#wire.sendAck(cmd, messageId, reasonCode),
      written: () => this.#wire.written(),
      fromTag: () => this.#outbound?.options.tag(),
      entryTimeMs: this.#ctx.entryTimeMs,
      fail: (r: number, d: string) => this.fail(r, d),
      log: (event: string, details: Record<string, unknown>) =>
        this.#ctx.log.warn(event, { clientId, ...details }),
    };
  }

  /**
   * The CONNECT's token (auth on): its principal, and that it may publish the will; then the
   * MQTT topic is there (created on first use). Undefined: refused (answered already).
   */
  async #authorized(p: IConnectPacket): Promise<Authorized | undefined> {
    const token = p.password === undefined ? undefined : p.password.toString();
    let access = MqttAccess.OPEN;
    if (this.#ctx.authenticate !== undefined) {
      const principal = token === undefined
        ? undefined
        : await this.#ctx.authenticate(`Bearer ${token}`);
      if (principal === undefined) return this.#refuse(REASON.notAuthorized, "token refused");
      access = new MqttAccess(principal);
    }
    if (p.will !== undefined && !access.canPublish(p.will.topic)) {
      return this.#refuse(REASON.notAuthorized, `may not publish the will to ${p.will.topic}`);
    }
    const api = new BrokerApi(this.#ctx.fetch, access.apiCaller(`Bearer ${token}`));
    const probe = await api.call("GET", `/v1/topics/${MQTT_TOPIC}`);
    if (probe.status === 401 || probe.status === 403) {
      return this.#refuse(REASON.notAuthorized, "token refused");
    }
    // Created, or an unbounded one turned to interest retention (without `admin`: left as is).
    const refused = await api.ensureTopic(probe);
    if (refused !== undefined && refused.status !== 401 && refused.status !== 403) {
      const detail = refused.body?.detail ?? refused.body?.title;
      this.#ctx.log.warn("mqtt_topic_upgrade_refused", { status: refused.status, detail });
    }
    return { api, access };
  }

  #connack(p: IConnectPacket, clientId: string, sessionPresent: boolean): Packet {
    if (p.protocolVersion !== 5) return { cmd: "connack", returnCode: 0, sessionPresent };
    // A session expiry other than the CONNECT's (over 30 days: capped) is told (3.2.2.3.2).
    const used = this.#expireMs === undefined ? 0xffffffff : this.#expireMs / 1000;
    const asked = p.properties?.sessionExpiryInterval ?? 0;
    const told = used === asked ? {} : { sessionExpiryInterval: used };
    return {
      cmd: "connack",
      reasonCode: 0,
      sessionPresent,
      properties: {
        ...(p.clientId === "" ? { assignedClientIdentifier: clientId } : {}),
        ...told,
        maximumPacketSize: this.#ctx.maxPacketBytes,
        topicAliasMaximum: TOPIC_ALIAS_MAX,
        // Never sent back on a PUBLISH (MQTT 5 3.3.4-3): absent would say they are.
        subscriptionIdentifiersAvailable: false,
      },
    };
  }

  /**
   * MQTT 5 topic aliases to the client: the first PUBLISH of a topic sets an alias (while the
   * client's maximum allows another), later ones send it with an empty topic.
   */
  #aliasOut(pk: Packet, max: number): Packet {
    if (pk.cmd !== "publish") return pk;
    const known = this.#aliasesOut.get(pk.topic);
    if (known !== undefined) {
      return { ...pk, topic: "", properties: { ...pk.properties, topicAlias: known } };
    }
    if (this.#aliasesOut.size >= max) return pk;
    const alias = this.#aliasesOut.size + 1;
    this.#aliasesOut.set(pk.topic, alias);
    return { ...pk, properties: { ...pk.properties, topicAlias: alias } };
  }

  /** MQTT 5 topic aliases (client to server): an alias set with a topic names it after. */
  #onPublish(p: IPublishPacket): void {
    const alias = p.properties?.topicAlias;
    if (alias !== undefined) {
      if (alias < 1 || alias > TOPIC_ALIAS_MAX) {
        return this.fail(REASON.topicAliasInvalid, `topic alias ${alias}`);
      }
      if (p.topic === "") {
        const topic = this.#aliases.get(alias);
        if (topic === undefined) return this.fail(REASON.protocolError, `unknown alias ${alias}`);
        p = { ...p, topic };
      } else this.#aliases.set(alias, p.topic);
    }
    this.#inbound?.publish(p);
  }

  #refuse(reason: number, detail: string): undefined {
    this.#ctx.log.warn("mqtt_connect_refused", {
      remote: this.#remote,
      reasonCode: reason,
      detail,
    });
    const v5 = this.#connect?.protocolVersion === 5;
    this.#wire.send(
      v5
        ? { cmd: "connack", reasonCode: reason, sessionPresent: false }
        : { cmd: "connack", returnCode: v3ReturnCode(reason), sessionPresent: false },
    );
    this.#wire.end();
    return undefined;
  }

  #closed(): void {
    const will = this.#connect?.will;
    if (will && !this.#disconnected && this.#inbound) this.#publishWill(will, this.#inbound);
    this.#wire.close();
    this.#stopKeepAlive();
    this.#outbound?.stop();
    const key = this.#session?.key;
    const same = key === undefined ? undefined : this.#ctx.live.get(key);
    if (same?.delete(this) && same.size === 0) this.#ctx.live.delete(key!);
    // The session waits for its client (or ends now: expiry 0); a no-op if it was taken over.
    this.#session?.release(this.#expireMs).catch((e) =>
      this.#ctx.log.warn("mqtt_session_release_failed", {
        clientId: this.#clientId,
        error: String(e),
      })
    );
  }

  /**
   * An unclean end (a dropped link, keep-alive expiry, a refused packet, a takeover): the Last
   * Will, after the v5 will delay interval (at most the session expiry), unless the client
   * connected again meanwhile (another connection holds its session now).
   */
  #publishWill(will: NonNullable<IConnectPacket["will"]>, inbound: Inbound): void {
    const delayS = will.properties?.willDelayInterval ?? 0;
    const expiry = this.#expireMs ?? SESSION_EXPIRY_MS_MAX;
    const delayMs = Math.min(delayS * 1000, expiry);
    const session = this.#session;
    const publish = () => {
      // Taken since this connection's last take (on any node), whether still held or left again
      // with a normal DISCONNECT: the client came back within the delay.
      const stamp = session === undefined ? undefined : this.#ctx.claims.claim(session.key)?.stamp;
      if (delayMs > 0 && stamp !== undefined && stamp > session!.stamp) {
        this.#ctx.log.info("mqtt_will_cancelled", { clientId: this.#clientId });
        return;
      }
      inbound.will(will).then((a) => {
        const ok = typeof a !== "string" && (a.status === 201 || a.status === 200); // 200: a duplicate
        this.#ctx.log.info("mqtt_will_published", {
          clientId: this.#clientId,
          topic: will.topic,
          ok,
        });
      }).catch(() => {});
    };
    if (delayMs <= 0) return publish();
    // The node's timers only: if this node dies before, the will is not published.
    const timer = setTimeout(publish, delayMs);
    Deno.unrefTimer(timer);
  }
}
