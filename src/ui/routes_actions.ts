/**
 * The dashboard's forms (POST): log in/out, publish a test message, purge, redrive, leadership
 * transfer, member add/remove. Each acts through the project's client over the node's own API
 * (so auth, forwarding to the leader and idempotency are the API's), then redirects back to the
 * page with the outcome (`?done=` or `?error=`). CSRF is checked before any of these runs
 * (`csrfGuard` in mod.ts).
 *
 * @module
 */

import type { Hono } from "hono";
import type { Client } from "../client/mod.ts";
import { clientFor, type UiContext, type UiDeps, type UiEnv } from "./context.ts";
import { safeNext } from "./routes_pages.tsx";

/** Form fields as strings (repeated ones as arrays). */
type Form = Record<string, string | string[]>;

export function actionRoutes(app: Hono<UiEnv>, deps: UiDeps): void {
  app.post("/login", async (c) => {
    const form = await formOf(c);
    const next = safeNext(one(form.next));
    if (await deps.sessions.login(c, one(form.token))) return c.redirect(next, 303);
    return c.redirect(`/ui/login?failed=1&next=${encodeURIComponent(next)}`, 303);
  });
  app.post("/logout", (c) => {
    deps.sessions.logout(c);
    return c.redirect("/ui/login", 303);
  });
  app.post("/queues/:q/publish", (c) =>
    act(c, deps, queuePath(c), async (client, form) => {
      const text = one(form.body);
      const id = one(form.id);
      const r = await client.publish(c.req.param("q")!, {
        body: parseBody(text),
        ...(id !== "" ? { id } : {}),
      });
      return `published seq ${r.seq} (id ${r.id})${r.duplicate ? ", a duplicate" : ""}`;
    }));
  app.post("/queues/:q/purge", (c) =>
    act(c, deps, queuePath(c), async (client, form) => {
      if (one(form.confirm) !== "yes") throw new Error("purge needs its confirmation");
      return `purged ${await client.purge(c.req.param("q")!)} messages`;
    }));
  app.post("/queues/:q/redrive", (c) =>
    act(c, deps, queuePath(c), async (client, form) => {
      const all = one(form.mode) === "all";
      const seqs = [form.seq ?? []].flat().map(Number).filter((s) => Number.isSafeInteger(s));
      if (!all && seqs.length === 0) throw new Error("select the messages to redrive");
      const r = await client.redrive(c.req.param("q")!, all ? undefined : seqs);
      const skipped = r.skipped.map((s) => `seq ${s.seq}: ${s.reason}`).join(", ");
      const left = all && r.remaining > 0 ? `; ${r.remaining} left: redrive all again` : "";
      return `redrove ${r.redriven} messages${skipped ? `; skipped ${skipped}` : ""}${left}`;
    }));
  clusterActions(app, deps);
}

function clusterActions(app: Hono<UiEnv>, deps: UiDeps): void {
  app.post("/cluster/transfer", (c) =>
    act(c, deps, "/ui/cluster", async (client, form) => {
      const to = one(form.to);
      await client.cluster.transferLeadership(to === "" ? undefined : to);
      return `leadership transfer to ${to || "the most up-to-date follower"} started`;
    }));
  app.post("/cluster/members", (c) =>
    act(c, deps, "/ui/cluster", async (client, form) => {
      await client.cluster.addMember({ id: one(form.id), url: one(form.url) });
      return `added ${one(form.id)}: a learner until it catches up`;
    }));
  app.post("/cluster/members/:id/remove", (c) =>
    act(c, deps, "/ui/cluster", async (client) => {
      await client.cluster.removeMember(c.req.param("id")!);
      return `removed ${c.req.param("id")}`;
    }));
}

/** Runs one form's action as the viewer, then redirects to `back` with its outcome. */
async function act(
  c: UiContext,
  deps: UiDeps,
  back: string,
  run: (client: Client, form: Form) => Promise<string>,
): Promise<Response> {
  const form = await formOf(c);
  const sep = back.includes("?") ? "&" : "?";
  try {
    const done = await run(clientFor(deps, c.get("viewer")), form);
    return c.redirect(`${back}${sep}done=${encodeURIComponent(done)}`, 303);
  } catch (e) {
    return c.redirect(`${back}${sep}error=${encodeURIComponent((e as Error).message)}`, 303);
  }
}

function queuePath(c: UiContext): string {
  return `/ui/queues/${encodeURIComponent(c.req.param("q") ?? "")}`;
}

/** The form body, parsed once per request (the CSRF guard reads it first). */
export async function formOf(c: UiContext): Promise<Form> {
  const parsed = await c.req.parseBody({ all: true });
  const out: Form = {};
  for (const [k, v] of Object.entries(parsed)) {
    out[k] = Array.isArray(v) ? v.map(String) : String(v);
  }
  return out;
}

function one(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

/** A test message's body: JSON when it parses as JSON, else the text as a string. */
export function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
