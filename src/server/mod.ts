/**
 * A real node: `startNode(config, log)` wires storage, the broker state machine, the node driver,
 * the WebSocket transport and the HTTP app on one `Deno.serve` listener. Also the broker as the
 * driver's state machine, and the channel followers forward client writes to the leader on.
 *
 * @module
 */

export { DURABLE_FILE, type RunningNode, startNode } from "./start.ts";
export * from "./raft_settings.ts";
export { BrokerMachine } from "./broker_machine.ts";
export { FORWARD_CHANNEL_DEFAULTS, ForwardChannels } from "./forward_channel.ts";
export { FORWARD_PATH } from "./forward_frames.ts";
export { RaftNode } from "./raft_node.ts";
export { MALLOC_TUNABLES, V8_FLAGS } from "./memory.ts";
