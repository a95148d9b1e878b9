/**
 * `jsonTextResponse`: a `Response` of JSON text with `Content-Type: application/json` and any
 * status, made the way Deno makes a 200's.
 *
 * Why: Deno (2.9) gives a `Response` whose status is 200, whose body is a string and whose one
 * header is `content-type: application/json` a fast static form that `Deno.serve` writes with one
 * op. Any other status (a publish's 201) builds a native response in the constructor
 * (`op_http_new_response_native_headers`, a finalizer registered) and sets it at the end
 * (`op_http_set_response_native`): ~3.5 µs more per answer in process, and ~6 µs of a leader's CPU
 * per single-message HTTP publish in its profile (2026-12-07). The fast form carries its status
 * in a field of its own, which `Deno.serve` passes to hyper as it is; so the 200's form is made and
 * its status (that field, and the inner response's, which `response.status` reads) set to the one
 * wanted. The wire answer is the same: status, the one header, the body.
 *
 * Those fields are Deno's own, found by their symbols' descriptions. This module checks once, on
 * a probe, that they are there and mean what they meant (a 200 fast form, the status read back);
 * when they are not (another Deno), every answer is made with the constructor as before.
 * `fast_response_test.ts` serves such answers with `Deno.serve` and reads them with `fetch`, so a
 * Deno whose server reads the status elsewhere fails it.
 *
 * @module
 */

const JSON_TYPE = "application/json";
/** Whether `status` may be given to `jsonTextResponse` (a status with a body). */
export function hasBodyStatus(status: number): boolean {
  return status >= 200 && status <= 599 && status !== 204 && status !== 205 && status !== 304;
}

/** The one header of an answer taken here; shared, nothing allocated per answer. */
export const JSON_ONLY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": JSON_TYPE,
});

interface FastFields {
  /** The fast form's status (0: not the fast form). */
  readonly status: symbol;
  /** The inner response (its `status` is what `Response.status` reads). */
  readonly inner: symbol;
}

/** The fields, when this Deno has them as expected; undefined otherwise. */
const FIELDS: FastFields | undefined = probe();

function probe(): FastFields | undefined {
  try {
    const response = new Response("{}", { headers: JSON_ONLY_HEADERS });
    const symbols = Object.getOwnPropertySymbols(response);
    const status = symbols.find((s) => s.description === "serve fast status");
    const inner = symbols.find((s) => s.description === "response");
    if (status === undefined || inner === undefined) return undefined;
    const r = response as unknown as Record<symbol, unknown>;
    const innerResponse = r[inner] as { status?: unknown } | undefined;
    if (r[status] !== 200 || innerResponse?.status !== 200) return undefined;
    setStatus(r, { status, inner }, 201);
    if (response.status !== 201 || (r[status] as number) !== 201) return undefined;
    return { status, inner };
  } catch {
    return undefined;
  }
}

function setStatus(r: Record<symbol, unknown>, fields: FastFields, status: number): void {
  r[fields.status] = status;
  (r[fields.inner] as { status: number }).status = status;
}

/** Whether this Deno's fast form is used (false: every answer is made by the constructor). */
export const FAST_STATUS_AVAILABLE = FIELDS !== undefined;

/**
 * `new Response(text, { status, headers: JSON_ONLY_HEADERS })`, as Deno's fast form when it can
 * be (see the module doc). `status` is 200..599 and not one without a body (204, 205, 304).
 * `text` may be its UTF-8 bytes (a leader's answer a follower returns).
 */
export function jsonTextResponse(status: number, text: string | Uint8Array<ArrayBuffer>): Response {
  if (status === 200 || FIELDS === undefined) {
    return new Response(text, { status, headers: JSON_ONLY_HEADERS });
  }
  const response = new Response(text, { headers: JSON_ONLY_HEADERS });
  setStatus(response as unknown as Record<symbol, unknown>, FIELDS, status);
  return response;
}
