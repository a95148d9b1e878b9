/**
 * Which nodes `mq` talks to when neither `--nodes` nor `QUORUMQ_NODES` says: a one-node broker
 * (`deno task start`, port 8080) or the dev cluster (`deno task cluster`, ports 8081..8083),
 * whichever answers `/healthz` on this machine. A refused port fails at once, so the probe costs
 * one loopback round trip; when nothing answers, every default is kept and the client's retries
 * report the failure as usual.
 *
 * @module
 */

/** The local defaults, in the order they are tried. */
export const LOCAL_NODES = [
  "http://127.0.0.1:8080",
  "http://127.0.0.1:8081",
  "http://127.0.0.1:8082",
  "http://127.0.0.1:8083",
] as const;

/** How long one probe may take: loopback answers in a few ms, a refused port at once. */
const PROBE_TIMEOUT_MS = 500;

/** The local defaults that answer `/healthz`, or all of them when none does. */
export async function discoverLocalNodes(fetcher: typeof fetch = fetch): Promise<string[]> {
  const answers = await Promise.all(LOCAL_NODES.map(async (url): Promise<string | undefined> => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS);
    try {
      const response = await fetcher(`${url}/healthz`, { signal: controller.signal });
      await response.body?.cancel();
      return response.ok ? url : undefined;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }));
  const found = answers.filter((u): u is string => u !== undefined);
  return found.length > 0 ? found : [...LOCAL_NODES];
}
