/**
 * The node's transport to its peers, with the links' keepalives on the beats of the node's ticker
 * (`node_ticker.ts`) rather than on interval timers of their own.
 *
 * @module
 */

import type { Message } from "../../cluster/raft/mod.ts";
import { type PeerTls, Transport } from "../../cluster/transport/mod.ts";
import type { NodeConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { NodeTicker } from "./node_ticker.ts";

export function openTransport(
  config: NodeConfig,
  log: Logger,
  peerTls: PeerTls | undefined,
  secret: string,
  peers: ReadonlyMap<string, string>,
  ticker: NodeTicker,
  receive: (msgs: Message[]) => void,
): Transport {
  return new Transport({
    selfId: config.id,
    clusterId: config.clusterId,
    secret,
    peers,
    // Sent when dialing: a peer that missed the change that added this node can answer it.
    selfUrl: config.advertise,
    onMessages: receive,
    ticker,
    log: (event, details) => log.info(event, details),
    faultSeam: config.testFaults,
    ...(peerTls === undefined ? {} : { peerTls }),
  });
}
