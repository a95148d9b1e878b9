/**
 * The dashboard's list page with 10,000 queues, rendered in-process (no socket): what one
 * request costs the node. `deno bench -A test/bench/ui_bench.ts`.
 *
 * @module
 */

import { createApp } from "../../src/http/mod.ts";
import { LocalNode } from "../../src/http/testing/local_node.ts";
import { silentLogger } from "../../src/log.ts";
import { createUi, EventRing } from "../../src/ui/mod.ts";

const QUEUES = 10_000;

const node = new LocalNode();
for (let i = 0; i < QUEUES; i++) {
  node.state.apply(i + 1, { ts: 1, cmd: { op: "queue_put", queue: `queue-${i}`, options: {} } });
}
const api = createApp({ node, log: silentLogger });
const ui = createUi({ node, api: api.fetch, events: new EventRing() });

async function get(path: string): Promise<void> {
  const res = await ui.fetch(new Request(`http://bench${path}`));
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  await res.text();
}

Deno.bench(`GET /ui/queues, ${QUEUES} queues, first page by name`, async () => {
  await get("/ui/queues");
});

Deno.bench(`GET /ui/queues, ${QUEUES} queues, sorted by ready, descending`, async () => {
  await get("/ui/queues?sort=ready&dir=desc");
});

Deno.bench(`GET /ui/queues, ${QUEUES} queues, filtered to 11`, async () => {
  await get("/ui/queues?filter=queue-999");
});
