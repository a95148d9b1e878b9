/**
 * The dashboard with auth on, in a real browser against a real 3-node cluster: it asks for a
 * token, a consume-only token sees messages but no admin buttons, an admin token sees them,
 * a form posted from another origin (a forged purge) is refused, and `--cors-origin` lets one
 * other origin's browser app call the API with a token (and no other). Skipped, saying why, when
 * there is no Chromium (see test/e2e/browser.ts).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { browserMissing, launchBrowser, type Page, screenshotDir, shoot } from "./browser.ts";
import { freePorts, Nodes } from "./nodes.ts";

const missing = await browserMissing();
if (missing !== undefined) console.log(`ui_auth_browser_test: skipped: ${missing}`);

const ADMIN = "admin-token-for-ui-test";
const BUILD_CLIENT = new URL("../../src/build_client.ts", import.meta.url).pathname;
const CONSUMER = "consume-only-token-1";

async function logIn(page: Page, base: string, token: string, next: string): Promise<void> {
  await page.goto(`${base}${next}`, { waitUntil: "load" });
  assert.match(page.url(), /\/ui\/login\?next=/, "the dashboard asks for a token first");
  await page.type("input[name=token]", token);
  await Promise.all([page.waitForNavigation(), page.click("form.stack button")]);
  assert.equal(new URL(page.url()).pathname, next);
}

/** A page on another origin that posts a purge form to the dashboard as soon as it loads. */
function evilSite(target: string): { url: string; close(): Promise<void> } {
  return servePage(
    `<!DOCTYPE html><form id="f" method="post" action="${target}">` +
      `<input name="confirm" value="yes"><input name="_csrf" value="guessed"></form>` +
      `<script>document.getElementById("f").submit()</script>`,
  );
}

/**
 * A browser app at `port` that publishes and reads through the API with the packaged client
 * (`deno task build:client`'s output, served beside the page) and a bearer token (CORS).
 */
function browserApp(api: string, port: number, clientDir: string) {
  return servePage(
    `<!DOCTYPE html><title>loading</title><script type="module">` +
      `import { Client } from "./client/mod.js";` +
      `const c = new Client({ nodes: [${JSON.stringify(api)}], token: "${ADMIN}", ` +
      `retry: { attempts: 1 } });` +
      // A read first: refused, it fails as network_error (a refused write could only be
      // unknown_outcome to a client, which cannot see that the preflight stopped it).
      `try { await c.getQueue("jobs"); await c.publish("jobs", { body: "from a browser app" });` +
      ` const q = await c.getQueue("jobs"); document.title = "ready:" + q.ready; }` +
      ` catch (e) { document.title = "refused:" + e.type; }</script>`,
    port,
    clientDir,
  );
}

/**
 * Serves one HTML page on a loopback port (another origin than the nodes'), and the files of
 * `clientDir` under `/client/`.
 */
function servePage(
  html: string,
  port = freePorts(1)[0],
  clientDir?: string,
): { url: string; close(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const file = /^\/client\/([a-z_]+\.js)$/.exec(path)?.[1];
    if (file !== undefined && clientDir !== undefined) {
      const js = await Deno.readFile(`${clientDir}/${file}`);
      return new Response(js, { headers: { "content-type": "text/javascript" } });
    }
    return new Response(html, { headers: { "content-type": "text/html" } });
  });
  return { url: `http://127.0.0.1:${port}/`, close: () => server.shutdown() };
}

Deno.test({
  name: "ui with auth: login, no admin buttons for a consume-only token, forged posts refused",
  ignore: missing !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "quorumq-ui-auth-" });
    const authFile = `${dir}/auth.json`;
    await Deno.writeTextFile(
      authFile,
      JSON.stringify({
        tokens: [
          { name: "ops", token: ADMIN, admin: ["*"], publish: ["*"], consume: ["*"] },
          { name: "worker", token: CONSUMER, consume: ["*"] },
        ],
      }),
    );
    const appPort = freePorts(1)[0];
    const nodes = await Nodes.start({
      count: 3,
      storage: "memory",
      extraArgs: ["--auth-file", authFile, "--cors-origin", `http://127.0.0.1:${appPort}`],
      adminToken: ADMIN,
    });
    const chromium = await launchBrowser();
    const screenshots = await screenshotDir();
    const shots = screenshots.dir;
    const admin = new Client({ nodes: nodes.urls(), token: ADMIN, retry: { attempts: 20 } });
    try {
      await admin.createQueue("jobs");
      await admin.publishBatch("jobs", [{ id: "job-1", body: { n: 1 } }, { id: "job-2", body: 2 }]);
      const base = nodes.url(nodes.ids[0]);
      const page = await chromium.browser.newPage();
      await page.setViewport({ width: 1280, height: 800 });

      await t.step("a consume-only token sees the messages and no admin button", async () => {
        await page.goto(`${base}/ui/cluster`, { waitUntil: "load" });
        await shoot(page, shots, "login");
        await logIn(page, base, CONSUMER, "/ui/queues/jobs");
        const ids = await page.$$eval("#messages td.id", (tds) => tds.map((td) => td.textContent));
        assert.deepEqual(ids, ["job-1", "job-2"]);
        assert.equal(await page.$("#purge"), null);
        assert.equal(await page.$("#redrive-selected"), null);
        assert.equal(await page.$("#publish"), null, "no publish permission, no publish form");
        await page.goto(`${base}/ui/cluster`, { waitUntil: "load" });
        assert.equal(await page.$("td.actions"), null);
        assert.equal(await page.$("form[action='/ui/cluster/members']"), null);
        const logout = await page.$("form[action='/ui/logout'] button");
        assert.ok(logout !== null);
        await Promise.all([page.waitForNavigation(), logout.click()]);
      });

      await t.step("an admin token sees the admin actions", async () => {
        await logIn(page, base, ADMIN, "/ui/queues/jobs");
        assert.ok((await page.$("#purge")) !== null);
        assert.ok((await page.$("#publish")) !== null);
      });

      await t.step("a purge form posted from another origin is refused", async () => {
        const evil = evilSite(`${base}/ui/queues/jobs/purge`);
        try {
          const answer = page.waitForResponse((r) => r.url().endsWith("/ui/queues/jobs/purge"));
          await page.goto(evil.url);
          const res = await answer;
          assert.equal(res.status(), 403);
          assert.match(await res.text(), /CSRF check failed/);
        } finally {
          await evil.close();
        }
        assert.equal((await admin.getQueue("jobs")).ready, 2, "nothing was purged");
      });

      await t.step(
        "--cors-origin lets that origin's app use the client, and no other",
        async () => {
          const clientDir = `${dir}/client`;
          const build = await new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", BUILD_CLIENT, "--out", clientDir],
            stdout: "null",
          }).output();
          assert.ok(build.success, "deno task build:client");
          const titleAfter = async (url: string) => {
            await page.goto(url, { waitUntil: "load" });
            await page.waitForFunction('document.title !== "loading"', { timeout: 10_000 });
            return await page.title();
          };
          const allowed = browserApp(base, appPort, clientDir);
          try {
            assert.equal(await titleAfter(allowed.url), "ready:3");
          } finally {
            await allowed.close();
          }
          const other = browserApp(base, freePorts(1)[0], clientDir);
          try {
            assert.equal(await titleAfter(other.url), "refused:network_error");
          } finally {
            await other.close();
          }
        },
      );
    } finally {
      await chromium.close();
      await screenshots.done();
      await nodes.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
