/**
 * The node driver: runs the Raft core's ready loop over its ports (storage, message sink, state
 * machine, ticker), resolves proposals once their entry is applied, serves ReadIndex, takes
 * snapshots in the background. The same driver runs under real ports (`src/server`) and under the
 * simulator's fakes (`test/sim`).
 *
 * ```ts
 * const driver = await NodeDriver.open({ raft, bootstrapConf, storage, sink, stateMachine, ... });
 * const outcome = await driver.propose(bytes, timeoutMs); // resolves once applied here
 * ```
 *
 * @module
 */

export {
  type DriverProposeOutcome,
  type DriverReadOutcome,
  NodeDriver,
  type NodeDriverOptions,
} from "./driver.ts";
export { bootstrapEntries, commitSettledConfChanges } from "./bootstrap.ts";
export { blockingPersist, ClientAwareBlocking } from "./driver_persist.ts";
export { hardStateToSave } from "./hard_state_policy.ts";
export { Identities, StaleIncarnationError } from "./identity.ts";
export { MemberUrls, snapshotParts, unwrapSnapshot, wrapSnapshot } from "./membership.ts";
export { noPace, SLICE_MS, slicePacer } from "./pace.ts";
export type * from "./ports.ts";
