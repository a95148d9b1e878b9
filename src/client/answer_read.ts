/**
 * A node's answer as the transport reads it, the same from the stream (`StreamPool.call`) and
 * over HTTP (`readResponse`): status, headers as a record, text; and its body as JSON or text.
 *
 * @module
 */

import type { StreamAnswer } from "./stream.ts";
import type { Answer } from "./transport.ts";

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

/** A successful answer (`Answer`); its `Headers` are built when asked for: most calls never look. */
export class Answered implements Answer {
  readonly #given: Readonly<Record<string, string>>;
  #headers: Headers | undefined;
  /** `Idempotent-Replayed: true`: the server answered from its stored response. */
  readonly replayed: boolean;
  readonly idempotencyKey?: string;

  constructor(
    readonly status: number,
    readonly body: unknown,
    given: Readonly<Record<string, string>>,
    raw: Headers | undefined,
    readonly node: string,
    idempotencyKey: string | undefined,
  ) {
    this.#given = given;
    this.#headers = raw;
    this.replayed = given["idempotent-replayed"] === "true";
    if (idempotencyKey !== undefined) this.idempotencyKey = idempotencyKey;
  }

  get headers(): Headers {
    return this.#headers ??= new Headers(this.#given);
  }
}
