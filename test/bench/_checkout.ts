/**
 * Bench helper: the root URL (ending in `/`) of the checkout whose modules a bench imports, this
 * one or `--checkout <dir>`, so one bench compares two versions of the code in turn.
 *
 * @module
 */

export function checkoutRoot(dir: string | undefined): string {
  return dir === undefined
    ? new URL("../../", import.meta.url).href
    : new URL(`file://${dir.replace(/\/?$/, "/")}`).href;
}
