/**
 * The dashboard in a real browser (headless Chromium) against a real 3-node cluster: the
 * cluster page, a live chart while a publisher runs, a redrive from the dead-letter page, a
 * purge, and screenshots of each page (desktop and a 390 px phone). Skipped, saying why, when
 * there is no Chromium (see test/e2e/browser.ts).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { browserMissing, launchBrowser, type Page, screenshotDir, shoot } from "./browser.ts";
import { eventually } from "./http.ts";
import { Nodes } from "./nodes.ts";
import { sessionSubscription } from "../../src/mqtt/mod.ts";

const missing = await browserMissing();
if (missing !== undefined) console.log(`ui_browser_test: skipped: ${missing}`);

function clientOf(nodes: Nodes): Client {
  return new Client({ nodes: nodes.urls(), retry: { attempts: 20, totalMs: 20_000 } });
}

/** Reads a page's element text, or undefined when the selector matches nothing. */
async function textOf(page: Page, selector: string): Promise<string | undefined> {
  const el = await page.$(selector);
  return el === null ? undefined : await el.evaluate((e) => e.textContent ?? "");
}

/** Makes `orders` dead-letter `n` messages into `orders.dlq`; answers their ids. */
async function deadLetters(client: Client, n: number): Promise<string[]> {
  await client.createQueue("orders.dlq");
  await client.createQueue("orders", { maxDeliveries: 1, deadLetterQueue: "orders.dlq" });
  const ids = Array.from({ length: n }, (_, i) => `order-${i + 1}`);
  await client.publishBatch(
    "orders",
    ids.map((id, i) => ({ id, body: { order: i + 1, sku: "A1" } })),
  );
  const got = await client.receive("orders", { max: n });
  await client.nack("orders", got.map((m) => m.receipt));
  return ids;
}

Deno.test({
  name: "ui: the dashboard on a 3-node cluster: nodes, live chart, redrive, purge, screenshots",
  ignore: missing !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const nodes = await Nodes.start({ count: 3, storage: "memory" });
    const chromium = await launchBrowser();
    const screenshots = await screenshotDir();
    const shots = screenshots.dir;
    const client = clientOf(nodes);
    try {
      const page = await chromium.browser.newPage();
      if (Deno.env.get("UI_DEBUG")) {
        page.on("request", (r) => console.log(Date.now() % 100000, "req", r.method(), r.url()));
        page.on("requestfinished", (r) => console.log(Date.now() % 100000, "fin", r.url()));
      }
      await page.setViewport({ width: 1280, height: 800 });
      const leader = await nodes.waitLeader();
      const base = nodes.url(nodes.ids.find((id) => id !== leader)!); // a follower serves the UI

      await t.step("the cluster page shows three nodes and the leader", async () => {
        await page.goto(`${base}/ui/cluster`, { waitUntil: "load" });
        const rows = await page.$$eval(
          "#nodes tbody tr",
          (trs) => trs.map((tr) => tr.dataset.node),
        );
        assert.deepEqual(rows.sort(), ["n1", "n2", "n3"]);
        assert.equal(await textOf(page, "#stat-leader"), leader);
        const badge = await page.$eval("tr.leader", (tr) => tr.dataset.node);
        assert.equal(badge, leader);
        const events = await textOf(page, "#events");
        assert.match(events ?? "", /leader changed/, "the node's event ring shows the election");
        await shoot(page, shots, "cluster");
        await shoot(page, shots, "cluster-phone", 390);
        await page.setViewport({ width: 1280, height: 800 });
      });

      await t.step("the cluster page's node rows update live", async () => {
        await page.goto(`${base}/ui/cluster`, { waitUntil: "load" });
        const applied = (id: string) =>
          page.$eval(
            `tr[data-node="${id}"] td[data-k=appliedIndex]`,
            (td) => Number((td.textContent ?? "").replaceAll(",", "")),
          );
        const before = await applied(leader);
        await client.createQueue("live-rows"); // one more entry applied everywhere
        await eventually(
          "the leader row's applied index to move without a reload",
          async () => (await applied(leader)) > before ? true : undefined,
          20_000,
        );
        await client.deleteQueue("live-rows"); // the queue list below shows its own queues only
      });

      await t.step("a chart's points increase while a publisher runs", async () => {
        await client.createQueue("load");
        await client.publishBatch(
          "load",
          ["welcome", "resize-42", "email-7"].map((id, i) => ({ id, body: { task: id, n: i } })),
        );
        await page.goto(`${base}/ui/queues/load`, { waitUntil: "load" });
        const points = () => page.$eval("#rates", (el) => Number(el.dataset.points));
        const before = await points();
        const stop = new AbortController();
        const publisher = (async () => {
          for (let i = 0; i < 100_000 && !stop.signal.aborted; i++) {
            await client.publishBatch(
              "load",
              Array.from({ length: 20 }, (_, j) => ({ body: { i, j } })),
            );
          }
        })();
        try {
          await eventually(
            "three more chart points",
            async () => (await points()) >= before + 3 ? true : undefined,
            20_000,
          );
          const published = await eventually("the live count to move", async () => {
            const text = await textOf(page, "#stat-published");
            return text !== undefined && text !== "0" ? text : undefined;
          });
          assert.ok(Number(published.replaceAll(",", "")) > 0);
          await shoot(page, shots, "queue");
        } finally {
          stop.abort();
          await publisher;
        }
      });

      await t.step("a dead-lettered message is redriven from the UI, then received", async () => {
        await deadLetters(client, 3);
        await page.goto(`${base}/ui/queues/orders.dlq`, { waitUntil: "load" });
        const seqOf2 = await page.$$eval(
          "#messages tbody tr",
          (trs) => trs.find((tr) => tr.textContent?.includes("order-2"))?.dataset.seq,
        );
        assert.ok(seqOf2 !== undefined, "order-2 is listed in the dead-letter queue");
        await page.click(`#messages tr[data-seq="${seqOf2}"] input[type=checkbox]`);
        await shoot(page, shots, "dead-letters");
        await Promise.all([page.waitForNavigation(), page.click("#redrive-selected")]);
        assert.match((await textOf(page, ".notice.ok")) ?? "", /redrove 1 messages/);
        const got = await client.receive("orders", { max: 10, waitMs: 2_000 });
        assert.deepEqual(got.map((m) => m.id), ["order-2"]);
        assert.deepEqual(got[0].body, { order: 2, sku: "A1" });
        assert.equal(got[0].headers["x-quorumq-origin"], undefined);
      });

      await t.step("a purge empties a queue after its confirmation", async () => {
        await client.createQueue("scratch");
        await client.publishBatch("scratch", Array.from({ length: 25 }, (_, i) => ({ body: i })));
        await page.goto(`${base}/ui/queues/scratch`, { waitUntil: "load" });
        await Promise.all([page.waitForNavigation(), page.click("#purge")]);
        assert.match(
          (await textOf(page, "main p")) ?? "",
          /Drop all 25 ready and delayed messages/,
        );
        await shoot(page, shots, "purge-confirm");
        await Promise.all([page.waitForNavigation(), page.click("#confirm")]);
        assert.match((await textOf(page, ".notice.ok")) ?? "", /purged 25 messages/);
        const info = await client.getQueue("scratch");
        assert.equal(info.ready, 0);
      });

      await t.step("queue and topic lists, desktop and phone", async () => {
        await client.topics.create("events");
        await client.subscriptions.create("events", "audit");
        await client.topics.publish("events", { body: { kind: "signup" } });
        // Some traffic, so the chart of all queues has something to draw.
        const stop = new AbortController();
        const traffic = (async () => {
          for (let i = 0; i < 10_000 && !stop.signal.aborted; i++) {
            await client.publishBatch("load", [{ body: i }, { body: i + 1 }]);
            const got = await client.receive("load", { max: 3 });
            if (got.length > 0) await client.ack("load", got.map((m) => m.receipt));
          }
        })();
        await page.goto(`${base}/ui/queues`, { waitUntil: "load" });
        const names = await page.$$eval(
          "#queues tbody tr",
          (trs) => trs.map((tr) => tr.dataset.queue),
        );
        assert.deepEqual(names, ["load", "orders", "orders.dlq", "scratch"]);
        const cell = 'tr[data-queue="load"] td[data-k="published"]';
        const firstCount = await textOf(page, cell);
        try {
          await eventually("the list's published count to move without a reload", async () => {
            const now = await textOf(page, cell);
            return now !== undefined && now !== firstCount ? true : undefined;
          });
          await eventually(
            "four chart points",
            async () =>
              (await page.$eval("#rates", (el) => Number(el.dataset.points))) >= 4
                ? true
                : undefined,
          );
        } finally {
          stop.abort();
          await traffic;
        }
        await shoot(page, shots, "queues");
        await shoot(page, shots, "queues-phone", 390);
        await page.goto(`${base}/ui/queues/orders.dlq`, { waitUntil: "load" });
        await shoot(page, shots, "queue-phone", 390);
        await page.setViewport({ width: 1280, height: 800 });
        await page.goto(`${base}/ui/topics`, { waitUntil: "load" });
        assert.equal(
          await page.$eval("#subscriptions tbody tr", (tr) => tr.dataset.subscription),
          "events/audit",
        );
        await shoot(page, shots, "topics");
        // The subscriptions an MQTT gateway keeps for a session of client `sensor-1`.
        await client.topics.create("mqtt");
        const session = (qos: 0 | 1) =>
          sessionSubscription({ clientId: "sensor-1", principal: undefined }, qos);
        await client.subscriptions.create("mqtt", session(0), {
          filters: ["home.*.temp"],
          deliveryMode: "at_most_once",
        });
        await client.subscriptions.create("mqtt", session(1), { filters: ["alerts", "alerts.>"] });
        await client.topics.publish("mqtt", { subject: "alerts.fire", body: "smoke" });
        await page.goto(`${base}/ui/mqtt?client=sensor-1`, { waitUntil: "load" });
        const row = await textOf(page, `tr[data-session="${session(0).slice(0, -3)}"]`);
        assert.match(row ?? "", /sensor-1.*home\/\+\/temp \(0\).*alerts\/# \(1\)/s);
        await shoot(page, shots, "mqtt");
      });

      await t.step("leadership moves to the node picked on the cluster page", async () => {
        const from = await nodes.waitLeader();
        const to = nodes.ids.find((id) => id !== from)!;
        await page.goto(`${base}/ui/cluster`, { waitUntil: "load" });
        const link = `tr[data-node="${to}"] a[href^="/ui/cluster/transfer"]`;
        await Promise.all([page.waitForNavigation(), page.click(link)]);
        await Promise.all([page.waitForNavigation(), page.click("#confirm")]);
        assert.match((await textOf(page, ".notice.ok")) ?? "", /leadership transfer to/);
        await eventually(`${to} to lead`, async () => {
          const view = await nodes.cluster(to);
          return view.leaderId === to ? true : undefined;
        });
      });
    } finally {
      await chromium.close();
      await screenshots.done();
      await nodes.stop();
    }
  },
});
