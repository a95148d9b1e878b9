/**
 * Receipts: what a delivery is settled by, `<ord>.<seq>.<attempt>` in base 36 (the channel's
 * ordinal, a new one per incarnation, the message's seq and the delivery's attempt), and their
 * decoding. Folder-private (re-exported by `_channel.ts`).
 *
 * @module
 */

/** A receipt: the channel's ordinal (a new one per incarnation), the seq and the attempt. */
export function encodeReceipt(ord: number, seq: number, attempt: number): string {
  return `${ord.toString(36)}.${seq.toString(36)}.${attempt.toString(36)}`;
}

/**
 * A receipt's parts: three dot-separated runs of 1 to 12 digits or lowercase letters (base 36),
 * else undefined. A scan of the characters rather than a split and three regular expressions:
 * every node decodes every receipt of every ack it applies.
 */
export function decodeReceipt(
  receipt: string,
): { ord: number; seq: number; attempt: number } | undefined {
  if (typeof receipt !== "string" || receipt.length > 64) return undefined;
  const first = receiptPartEnd(receipt, 0);
  if (first < 0 || first === receipt.length) return undefined;
  const second = receiptPartEnd(receipt, first + 1);
  if (second < 0 || second === receipt.length) return undefined;
  const third = receiptPartEnd(receipt, second + 1);
  if (third !== receipt.length) return undefined;
  return {
    ord: base36(receipt, 0, first),
    seq: base36(receipt, first + 1, second),
    attempt: base36(receipt, second + 1, third),
  };
}

/**
 * The base-36 number in `text[from, to)` (checked digits). Up to 10 digits it is exact in a
 * double and summed here; longer ones go through `parseInt`, which rounds them the same way as
 * always.
 */
function base36(text: string, from: number, to: number): number {
  if (to - from > 10) return parseInt(text.slice(from, to), 36);
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    n = n * 36 + (c <= 57 ? c - 48 : c - 87);
  }
  return n;
}

/**
 * Where the base-36 run that starts at `from` ends (at a dot or the end of the string), or -1
 * when it is empty, longer than 12, or holds any other character.
 */
function receiptPartEnd(receipt: string, from: number): number {
  let i = from;
  for (; i < receipt.length && i - from <= 12; i++) {
    const c = receipt.charCodeAt(i);
    if (c === 46 /* . */) break;
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 122))) return -1;
  }
  const n = i - from;
  return n >= 1 && n <= 12 ? i : -1;
}
