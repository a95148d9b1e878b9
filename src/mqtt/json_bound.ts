/**
 * A bound on the UTF-8 bytes of a value's JSON text (`JSON.stringify`), without making the text:
 * the gateway hands its batch publishes to the API as values (`SizedBody`), and the API takes a
 * value as it is only when this bound is within its body limit (beyond it, it reads the text).
 *
 * @module
 */

/**
 * At most how many UTF-8 bytes `JSON.stringify(value)` has. A UTF-16 code unit of a string is at
 * most 6 bytes of JSON (`\uXXXX`; otherwise 1 to 3 bytes, a surrogate pair 4 for two units); a
 * number's text is at most 25 characters; `undefined` and functions count as `null` (an
 * over-count where they are left out). `known`, when given, bounds the value at that key of
 * the top object instead (a body whose text the caller knows).
 */
export function jsonBytesAtMost(value: unknown, known?: { key: string; bytes: number }): number {
  switch (typeof value) {
    case "string":
      return 6 * value.length + 2;
    case "number":
    case "bigint":
      return 25;
    case "object": {
      if (value === null) return 4;
      if (Array.isArray(value)) {
        let n = 2;
        for (let i = 0; i < value.length; i++) n += jsonBytesAtMost(value[i]) + 1;
        return n;
      }
      let n = 2;
      const record = value as Record<string, unknown>;
      for (const key in record) {
        const v = known !== undefined && key === known.key
          ? known.bytes
          : jsonBytesAtMost(record[key]);
        n += 6 * key.length + 2 + 1 + v + 1;
      }
      return n;
    }
    default:
      return 5; // true, false, null
  }
}
