/**
 * The nemesis's admin calls (membership changes): through any live member, retried for up to
 * 30 s, because a leader may be down, partitioned or changing while a fault is in force.
 *
 * @module
 */

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Sends `method path body` to the members `via()` returns (asked again every round) until one
 * answers 2xx (or 404 for a DELETE: already gone); throws with the last answer after 30 s.
 */
export async function adminCall(
  url: (id: string) => string,
  via: () => readonly string[],
  method: string,
  path: string,
  body: unknown,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = "";
  while (Date.now() < deadline) {
    for (const id of via()) {
      try {
        const res = await fetch(`${url(id)}${path}`, {
          method,
          headers: { "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        if (res.ok || (method === "DELETE" && res.status === 404)) return;
        last = `${id}: ${res.status} ${text.slice(0, 200)}`;
      } catch (e) {
        last = `${id}: ${(e as Error)?.message ?? e}`;
      }
    }
    await sleep(300);
  }
  throw new Error(`${method} ${path} did not succeed within 30 s (last: ${last})`);
}
