/**
 * Bodies of requests and answers that never leave the process: the stream (`stream.ts`) runs
 * each of its requests through the app in process, so the JSON text it holds is handed over as
 * text instead of through a `ReadableStream` (building, reading and releasing a body stream per
 * request was ~9% of a leader's CPU under 256 publishes in flight). The app reads them with the
 * same limits and checks as a body from the network (`body.ts`).
 *
 * @module
 */

/** The JSON text of an in-process request (it is built with no body stream). */
export const inProcessRequestText = new WeakMap<Request, string>();

/** The JSON text of an answer made from text (`jsonAnswer`), read back without its stream. */
export const answerText = new WeakMap<Response, string>();
