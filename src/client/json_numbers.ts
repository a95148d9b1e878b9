/**
 * Numbers a JSON request cannot carry as written. The API reads a request's JSON with
 * `JSON.parse`, where every number is an IEEE-754 double, and stores a message body as the JSON
 * text of that value: a number no double holds was stored as another, silently (`1e400` as
 * `null`; the integer 12345678901234567890, an account number, an amount in cents, a 64-bit id,
 * as 12345678901234567000). Such a request is now refused (400) naming the number. A number
 * written with a fraction or an exponent is read as the nearest double, as JSON parsers do
 * (docs/http.md); an integer is taken only when the text stored for its double is that integer.
 * The API checks every request body with it, and the CLI the bodies it parses (it sends their
 * values, so the server could not tell). Where `JSON.parse` gives no source text (Node 20),
 * integers pass.
 *
 * @module
 */

/** An integer literal of JSON (no fraction, no exponent). */
const INTEGER = /^-?\d+$/;

/**
 * The first number of `text` (whose `JSON.parse` is `json`) that its double does not hold: an
 * integer it rounds, or one out of the double's range; undefined when there is none. Costs a walk
 * over `json`; `text` is parsed again, with each number's source, only when a number is out of
 * range or an integer past 2^53 (below that every integer is exact).
 */
export function inexactNumber(text: string, json: unknown): string | undefined {
  const suspect = suspectNumber(json);
  if (suspect === undefined) return undefined;
  let found: string | undefined;
  try {
    JSON.parse(text, function (_key, value: unknown, context?: { source?: string }) {
      if (found === undefined && typeof value === "number") {
        const source = context?.source ?? String(value);
        if (!Number.isFinite(value) || (INTEGER.test(source) && !sameInteger(source, value))) {
          found = source;
        }
      }
      return value;
    });
  } catch {
    // Nested deeper than the reviver's stack: a number out of range is out of range whatever
    // it was written as; an integer past 2^53 is taken, as before.
    return Number.isFinite(suspect) ? undefined : String(suspect);
  }
  return found;
}

/**
 * Whether the integer literal `source` is the number the text stored for `value` (its
 * `JSON.stringify`, the shortest that reads back as that double: `2^60 + 256` is written
 * 1152921504606847200, not its exact 1152921504606847232, and must pass as it is) denotes.
 */
function sameInteger(source: string, value: number): boolean {
  const stored = JSON.stringify(value);
  const e = stored.indexOf("e");
  if (e < 0) return BigInt(source) === BigInt(stored);
  // 1e21 and up: `d.ddde+NN`, an integer (a double this large has no fraction).
  const [whole, fraction = ""] = stored.slice(0, e).split(".");
  const exponent = Number(stored.slice(e + 1)) - fraction.length;
  return exponent >= 0 && BigInt(source) === BigInt(whole + fraction) * 10n ** BigInt(exponent);
}

/** A number of `json` out of range or past 2^53, or undefined. By a work list: any depth. */
function suspectNumber(json: unknown): number | undefined {
  if (typeof json !== "object" || json === null) return numberSuspect(json);
  // Only objects and arrays go on the list; the other values are looked at where they are.
  const todo: object[] = [json];
  while (todo.length > 0) {
    const v = todo.pop()!;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (typeof x === "object") {
          if (x !== null) todo.push(x);
        } else if (numberSuspect(x) !== undefined) return x as number;
      }
    } else {
      const o = v as Record<string, unknown>;
      for (const k in o) {
        const x = o[k];
        if (typeof x === "object") {
          if (x !== null) todo.push(x);
        } else if (numberSuspect(x) !== undefined) return x as number;
      }
    }
  }
  return undefined;
}

/** `v` when it is a number out of range or past 2^53 (no double from JSON is NaN). */
function numberSuspect(v: unknown): number | undefined {
  return typeof v === "number" && !(Math.abs(v) <= Number.MAX_SAFE_INTEGER) ? v : undefined;
}
