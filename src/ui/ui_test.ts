import assert from "node:assert/strict";
import { createApp, loadAuthenticator } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { filterToPatterns, sessionSubscription } from "../mqtt/mod.ts";
import { createUi, EventRing } from "./mod.ts";
import { safeNext } from "./routes_pages.tsx";

const AUTH = JSON.stringify({
  tokens: [
    { name: "ops", token: "admin-token-1", admin: ["*"], consume: ["*"], publish: ["*"] },
    { name: "worker", token: "worker-token-1", consume: ["*"] },
  ],
});

async function dashboard(authOn = false) {
  const node = new LocalNode();
  const auth = authOn ? await loadAuthenticator(AUTH) : undefined;
  const api = createApp({ node, log: silentLogger, ...(auth ? { auth } : {}) });
  const ui = createUi({ node, api: api.fetch, ...(auth ? { auth } : {}), events: new EventRing() });
  const jar = new Map<string, string>();
  /** A browser: keeps cookies, follows nothing. */
  const visit = async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await ui.fetch(new Request(`http://node.test${path}`, { ...init, headers }));
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const [k, v] = pair.split("=");
      jar.set(k, v);
    }
    return { res, text: await res.text() };
  };
  const apiCall = (method: string, path: string, body?: unknown, token = "admin-token-1") =>
    api.fetch(
      new Request(`http://node.test${path}`, {
        method,
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    );
  return { node, ui, visit, apiCall, jar };
}

const csrfOf = (html: string) => /name="_csrf" value="([0-9a-f]+)"/.exec(html)?.[1] ?? "";
const form = (fields: Record<string, string>) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(fields).toString(),
});

Deno.test("ui: 10,000 queues list 100 rows a page, filtered and sorted on the server", async () => {
  const { node, visit } = await dashboard();
  for (let i = 0; i < 10_000; i++) {
    node.state.apply(i + 1, {
      ts: 1,
      cmd: { op: "queue_put", queue: `q${String(i).padStart(5, "0")}`, options: {} },
    });
  }
  const first = await visit("/ui/queues");
  assert.equal(first.res.status, 200);
  assert.match(first.text, /id="queue-count">10,000</);
  assert.equal(first.text.match(/<tr data-queue=/g)?.length, 100);
  assert.match(first.text, /page 1 of 100/);
  const filtered = await visit("/ui/queues?filter=q0999&sort=name&dir=desc");
  const names = [...filtered.text.matchAll(/<tr data-queue="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(names, [
    "q09999",
    "q09998",
    "q09997",
    "q09996",
    "q09995",
    "q09994",
    "q09993",
    "q09992",
    "q09991",
    "q09990",
  ]);
});

Deno.test("ui: a form post needs this session's CSRF value; with it, the action runs", async () => {
  const { node, visit, apiCall } = await dashboard();
  await apiCall("PUT", "/v1/queues/jobs", {});
  await apiCall("POST", "/v1/queues/jobs/messages", { messages: [{ body: 1 }, { body: 2 }] });
  const page = await visit("/ui/queues/jobs/purge");
  const csrf = csrfOf(page.text);
  assert.ok(csrf.length === 64);
  const forged = await visit(
    "/ui/queues/jobs/purge",
    form({ confirm: "yes", _csrf: "0".repeat(64) }),
  );
  assert.equal(forged.res.status, 403);
  assert.equal(forged.res.headers.get("content-type"), "application/problem+json");
  const otherSite = await visit("/ui/queues/jobs/purge", {
    ...form({ confirm: "yes", _csrf: csrf }),
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://evil.test" },
  });
  assert.equal(otherSite.res.status, 403);
  const ok = await visit("/ui/queues/jobs/purge", form({ confirm: "yes", _csrf: csrf }));
  assert.equal(ok.res.status, 303);
  assert.equal(ok.res.headers.get("location"), "/ui/queues/jobs?done=purged%202%20messages");
  const after = await (await apiCall("GET", "/v1/queues/jobs")).json();
  assert.equal(after.ready, 0);
  assert.equal(node.state.sessions.byId.size, 0, "a dashboard action opens no write session");
});

Deno.test("ui with auth: login keeps the token in an HttpOnly SameSite cookie; admin actions only for admins", async () => {
  const { visit, apiCall, jar } = await dashboard(true);
  await apiCall("PUT", "/v1/queues/jobs", {});
  const first = await visit("/ui/queues/jobs");
  assert.equal(first.res.status, 302);
  assert.equal(first.res.headers.get("location"), "/ui/login?next=%2Fui%2Fqueues%2Fjobs");
  const login = await visit("/ui/login?next=%2Fui%2Fqueues%2Fjobs");
  const csrf = csrfOf(login.text);
  const bad = await visit(
    "/ui/login",
    form({ token: "nope-nope", next: "/ui/queues/jobs", _csrf: csrf }),
  );
  assert.match(bad.res.headers.get("location") ?? "", /failed=1/);
  const ui = tokenCookie(
    await visit(
      "/ui/login",
      form({ token: "worker-token-1", next: "/ui/queues/jobs", _csrf: csrf }),
    ),
  );
  assert.equal(ui.location, "/ui/queues/jobs");
  assert.match(ui.cookie, /HttpOnly/);
  assert.match(ui.cookie, /SameSite=Strict/);
  assert.match(ui.cookie, /Path=\/ui/);
  const asWorker = await visit("/ui/queues/jobs");
  assert.equal(asWorker.res.status, 200);
  assert.doesNotMatch(asWorker.text, /id="purge"/);
  assert.doesNotMatch(asWorker.text, /action="\/ui\/queues\/jobs\/publish"/);
  const refused = await visit("/ui/queues/jobs/purge", form({ confirm: "yes", _csrf: csrf }));
  assert.match(
    decodeURIComponent(refused.res.headers.get("location") ?? ""),
    /error=.*may not admin/,
  );
  jar.delete("quorumq_token");
  await visit("/ui/login", form({ token: "admin-token-1", next: "/ui/queues/jobs", _csrf: csrf }));
  assert.match((await visit("/ui/queues/jobs")).text, /id="purge"/);
});

function tokenCookie(v: { res: Response }) {
  const cookie = v.res.headers.getSetCookie().find((c) => c.startsWith("quorumq_token=")) ?? "";
  return { location: v.res.headers.get("location"), cookie };
}

Deno.test("ui: a login's next page stays inside the dashboard", () => {
  assert.equal(safeNext("/ui/queues/a?x=1"), "/ui/queues/a?x=1");
  for (const bad of ["//evil.example/ui", "https://evil.example", "/uix", "/ui\\evil", undefined]) {
    assert.equal(safeNext(bad), "/ui/cluster");
  }
});

Deno.test("ui: topics filter and sort on the server; subscriptions come most-behind first", async () => {
  const { apiCall, visit } = await dashboard();
  for (const t of ["alpha", "beta", "alps"]) await apiCall("PUT", `/v1/topics/${t}`, {});
  await apiCall("PUT", "/v1/topics/alpha/subscriptions/slow", { startAt: "earliest" });
  await apiCall("PUT", "/v1/topics/alpha/subscriptions/fast", { startAt: "earliest" });
  await apiCall("POST", "/v1/topics/alpha/messages", { messages: [{ body: 1 }, { body: 2 }] });
  await apiCall("POST", "/v1/topics/alpha/subscriptions/fast/receive", { max: 10 });
  await apiCall("POST", "/v1/topics/alps/messages", { body: 3 });
  const page = await visit("/ui/topics?filter=al&sort=published&dir=desc");
  const topics = [...page.text.matchAll(/<tr data-topic="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(topics, ["alpha", "alps"]);
  const subs = [...page.text.matchAll(/<tr data-subscription="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(subs, ["alpha/slow", "alpha/fast"]);
});

Deno.test("ui: a page whose data the API cannot give says so (503), escaped", async () => {
  const { node, visit, apiCall } = await dashboard();
  await apiCall("PUT", "/v1/queues/jobs", {});
  node.mode = { kind: "no_leader" };
  const page = await visit("/ui/queues/jobs");
  assert.equal(page.res.status, 503);
  assert.match(page.text, /class="notice err"/);
  assert.match(page.text, /leader/i);
  node.mode = { kind: "leader" };
  assert.equal((await visit("/ui/queues/jobs")).res.status, 200);
});

Deno.test("ui: member add and remove go through their confirmation pages to the cluster API", async () => {
  const { node, visit } = await dashboard();
  const confirm = await visit("/ui/cluster/members/add?id=n4&url=http%3A%2F%2F127.0.0.1%3A9");
  assert.match(confirm.text, /Add n4 at http:\/\/127.0.0.1:9\?/);
  const csrf = csrfOf(confirm.text);
  const added = await visit(
    "/ui/cluster/members",
    form({ id: "n4", url: "http://127.0.0.1:9", confirm: "yes", _csrf: csrf }),
  );
  assert.match(added.res.headers.get("location") ?? "", /done=added%20n4/);
  assert.ok(node.clusterView().members.some((m) => m.id === "n4" && m.role === "learner"));
  const cluster = await visit("/ui/cluster");
  assert.match(cluster.text, /data-node="n4"/);
  const removed = await visit(
    "/ui/cluster/members/n4/remove",
    form({ confirm: "yes", _csrf: csrf }),
  );
  assert.match(removed.res.headers.get("location") ?? "", /done=removed%20n4/);
  assert.ok(!node.clusterView().members.some((m) => m.id === "n4"));
  const again = await visit("/ui/cluster/members/n4/remove", form({ confirm: "yes", _csrf: csrf }));
  assert.match(decodeURIComponent(again.res.headers.get("location") ?? ""), /error=.*not a member/);
});

Deno.test("ui: the MQTT page lists sessions from the mqtt topic, and finds one by client id", async () => {
  const { visit, apiCall } = await dashboard();
  assert.match((await visit("/ui/cluster")).text, /href="\/ui\/mqtt"/);
  assert.equal((await apiCall("PUT", "/v1/topics/mqtt", {})).status, 201);
  // The subscriptions a gateway writes for client `sensor-1`: `home/+/temp` at QoS 0,
  // `alerts/#` at QoS 1; and one shared subscription.
  const put = (name: string, filters: string[], mode: string) =>
    apiCall("PUT", `/v1/topics/mqtt/subscriptions/${name}`, { filters, deliveryMode: mode });
  const patterns = (f: string) => {
    const r = filterToPatterns(f);
    return "patterns" in r ? r.patterns : [];
  };
  await put(
    sessionSubscription({ clientId: "sensor-1", principal: undefined }, 0),
    patterns("home/+/temp"),
    "at_most_once",
  );
  await put(
    sessionSubscription({ clientId: "sensor-1", principal: undefined }, 1),
    patterns("alerts/#"),
    "at_least_once",
  );
  await put(`mqtt-share-${"ab".repeat(20)}`, patterns("jobs/+"), "at_least_once");
  await put(
    sessionSubscription({ clientId: "other", principal: undefined }, 1),
    patterns("x"),
    "at_least_once",
  );
  const messages = ["home.kitchen.temp", "alerts.fire", "alerts", "jobs.a"]
    .map((subject) => ({ subject, body: 1 }));
  assert.equal((await apiCall("POST", "/v1/topics/mqtt/messages", { messages })).status, 201);
  const q1 = sessionSubscription({ clientId: "sensor-1", principal: undefined }, 1);
  await apiCall("POST", `/v1/topics/mqtt/subscriptions/${q1}/receive`, { max: 1 });

  const { res, text } = await visit("/ui/mqtt?client=sensor-1");
  assert.equal(res.status, 200);
  const rows = [...text.matchAll(/<tr data-session="([^"]+)"[^>]*>(.*?)<\/tr>/gs)];
  assert.equal(rows.length, 3);
  const key = q1.slice(0, -3);
  const mine = rows.find((r) => r[1] === key)?.[2] ?? "";
  assert.match(mine, /<td>sensor-1<\/td>/);
  assert.match(mine, /home\/\+\/temp \(0\)/);
  assert.match(mine, /alerts\/# \(1\)/);
  // ready: the kitchen reading (q0) + one of the two alerts (q1); leased: the other alert.
  assert.match(mine, /<td class="num">2<\/td><td class="num">1<\/td>/);
  const shared = rows.find((r) => r[1].startsWith("mqtt-share-"))?.[2] ?? "";
  assert.match(shared, /shared/);
  assert.match(shared, /jobs\/\+ \(1\)/);
  assert.doesNotMatch(text.replace(mine, ""), /sensor-1<\/td>/);
});
