/**
 * What a handler answers, whoever carried its request (`call.ts`): a record, not a `Response`.
 * A leaf module (no imports), so that the edge gateway's modules may share it.
 *
 * @module
 */

/**
 * An answer as a handler makes it: status, headers (lower-case names) and JSON text ("" for
 * none). Hono sends it as a `Response` (`responseOf`), a stream as a `res` frame.
 */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
  /** A receive's: how many messages it delivers (a stream consumer's credit counts them). */
  readonly delivered?: number;
  /**
   * A batch publish's, when every message was published (or was a duplicate): how many. An
   * in-process caller (the MQTT gateway) reads this instead of the text, which is then never made.
   */
  readonly published?: number;
}

/** What a handler answers: its own answer, or the leader's to a forwarded write, as it came. */
export type Outcome = Answer | Response;
