/**
 * A node's answer as the transport reads it, the same from the stream (`StreamPool.call`) and
 * over HTTP (`readResponse`): status, headers as a record, text; and its body as JSON or text.
 *
 * @module
 */

import type { StreamAnswer } from "./stream.ts";

/**
 * An answer: from the stream, or read off a `Response` (with its status text and headers).
 * `servedBy`: the base URL of the node that answered, when not the one the call was sent to (a
 * stream moved to the leader).
 */
export type ReadAnswer = StreamAnswer & {
  readonly statusText?: string;
  readonly raw?: Headers;
  readonly servedBy?: string;
};

/** An answer read off a `Response` in the shape the stream gives (`StreamAnswer`). */
export async function readResponse(response: Response): Promise<ReadAnswer> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const text = response.status === 204 ? null : await response.text();
  return {
    status: response.status,
    statusText: response.statusText,
    headers,
    text,
    raw: response.headers,
  };
}

/** The answer's body: its JSON when its type says JSON and it parses, else its text or null. */
export function parseBody(answer: StreamAnswer): unknown {
  if (answer.status === 204) return null;
  const text = answer.text ?? "";
  if (text === "") return null;
  const type = answer.headers["content-type"] ?? "";
  if (!type.includes("json")) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
