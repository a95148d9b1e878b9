/**
 * The broker's replicated state machine: queues, topics, subscriptions, leases, dedup ids,
 * idempotency keys. Pure and deterministic: time is the entry's timestamp, never a clock.
 *
 * ```ts
 * const broker = new BrokerState();
 * const result = broker.apply(index, decodeEnvelope(entry.data)); // on every node, in log order
 * const view = captureSnapshot(broker); // quick; view.parts() (bounded steps) later
 * const copy = restoreSnapshot(view.serialize()); // or restoreSteps(bytes), step by step
 * ```
 *
 * @module
 */

export * from "./commands.ts";
export { EntryClock, type EntryClockSources } from "./entry_clock.ts";
export { ownEntry } from "./own_entry.ts";
export { readEntryValue } from "./_entry_reader.ts";
export { decodeEntry } from "./envelope.ts";
export { BatchResults, BrokerState, DEAD_LETTER_HEADERS, type ExactlyOnceStats } from "./state.ts";
export {
  captureSnapshot,
  captureSteps,
  restoreSnapshot,
  restoreSteps,
  SNAPSHOT_VERSION,
  snapshotBytes,
  type SnapshotSource,
  type SnapshotView,
} from "./snapshot.ts";
export { QUEUE_DEFAULTS } from "./_config.ts";
export { REDRIVE_MAX } from "./_admin.ts";
export { IDEM_KEYS_MAX, IDEM_TTL_MS } from "./_ids.ts";
export {
  DURATION_MS_MAX,
  GENERATED_ID_PREFIX,
  ID_LENGTH_MAX,
  NAME_LENGTH_MAX,
  RECEIVE_MAX,
  UNANSWERED,
} from "./validate.ts";
export {
  checkFilters,
  checkHeaderMatch,
  checkPattern,
  checkSubject,
  FILTERS_MAX,
  HEADER_MATCH_MAX,
  SUBJECT_BYTES_MAX,
  subjectMatches,
} from "./subject.ts";
