/**
 * The API's answer to a batch publish as the gateway reads it: when every message was published
 * (the common case) only their count, read by a scan of the text, instead of `JSON.parse` making
 * an object and an id string per message that the gateway never looks at (~0.5 µs a message in
 * process; the gateway's PUBACKs need only "published or not" per message). On the direct path
 * the API gives the count itself (`ApiFetch`'s `published`) and no text is made at all
 * (`readBatchAnswer`); the scan reads the text that comes through the app.
 *
 * @module
 */

/** Every message of a batch publish was published (or was a duplicate): how many there were. */
export interface AllPublished {
  readonly published: number;
}

/**
 * The body of an API answer: `{ published: n }` when `text` is exactly the API's rendering of n
 * results that each have a `seq` (`{"results":[{"seq":1,"id":"...","duplicate":false},...]}`,
 * src/http/render.ts `batchPublished`), else `JSON.parse(text)` (an error among the results,
 * another answer, any other form of the same JSON). Whatever the scan takes is JSON whose
 * `results` are n objects with a numeric `seq` and no `error` (`batch_answer_test.ts`).
 */
export function readApiAnswer(text: string): unknown {
  const n = publishedCount(text);
  return n === undefined ? JSON.parse(text) : { published: n } satisfies AllPublished;
}

/**
 * A batch publish's answer as `BrokerApi` reads it (`AnswerReader`): the API's own count where
 * it gives one (the direct path: no text made), else `readApiAnswer` of the text.
 */
export function readBatchAnswer(
  answer: { readonly text: string; readonly published?: number },
): unknown {
  const { published } = answer;
  return published === undefined
    ? readApiAnswer(answer.text)
    : { published } satisfies AllPublished;
}

const HEAD = '{"results":[';
const SEQ = '{"seq":';
const ID = ',"id":"';
const NOT_DUPLICATE = ',"duplicate":false}';
const DUPLICATE = ',"duplicate":true}';

/** The count of results when `t` is the plain rendering of only published ones, else undefined. */
function publishedCount(t: string): number | undefined {
  if (!t.startsWith(HEAD)) return undefined;
  let i = HEAD.length;
  if (t.length === i + 2 && t.startsWith("]}", i)) return 0;
  // Each turn reads one result and moves on; the text bounds the turns.
  for (let n = 1; i < t.length; n++) {
    if (!t.startsWith(SEQ, i)) return undefined;
    i = digitsEnd(t, i + SEQ.length);
    if (i < 0 || !t.startsWith(ID, i)) return undefined;
    i = stringEnd(t, i + ID.length);
    if (i < 0) return undefined;
    if (t.startsWith(NOT_DUPLICATE, i)) i += NOT_DUPLICATE.length;
    else if (t.startsWith(DUPLICATE, i)) i += DUPLICATE.length;
    else return undefined;
    if (t.charCodeAt(i) === 0x2c) {
      i++;
      continue;
    }
    return t.length === i + 2 && t.startsWith("]}", i) ? n : undefined;
  }
  return undefined;
}

/** The end of a JSON non-negative integer (no sign, fraction or exponent) at `i`, or -1. */
function digitsEnd(t: string, i: number): number {
  const start = i;
  while (i < t.length && isDigit(t.charCodeAt(i))) i++;
  if (i === start) return -1;
  // JSON has no leading zeros.
  if (i - start > 1 && t.charCodeAt(start) === 0x30) return -1;
  return i;
}

/** After the closing quote of a JSON string whose opening quote is just before `i`, or -1. */
function stringEnd(t: string, i: number): number {
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -1;
    if (c !== 0x5c) continue;
    const e = t.charCodeAt(++i);
    if (e === 0x75) {
      for (let k = 1; k <= 4; k++) if (!isHex(t.charCodeAt(i + k))) return -1;
      i += 4;
    } else if (!ESCAPES.has(e)) return -1;
  }
  return -1;
}

/** The characters JSON allows after a backslash, other than `u`: `" \ / b f n r t`. */
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}
