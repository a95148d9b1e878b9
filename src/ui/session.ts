/**
 * Who is looking at the dashboard, and proof that a form post came from one of its own pages.
 *
 * - Token: with auth on, the login form's bearer token is kept in an HttpOnly, SameSite=Strict
 *   cookie scoped to `/ui` (script cannot read it, other sites' requests do not carry it) and
 *   checked against the auth file on every request, like an `Authorization` header.
 * - CSRF: every state-changing form carries `_csrf`, an HMAC (a key made at start, per process)
 *   of a random session id held in another HttpOnly cookie. A forged post from another site has
 *   neither the cookie (SameSite) nor the value; a post without a match is refused 403.
 *
 * @module
 */

import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { Authenticator, Permission, Principal } from "../http/mod.ts";

export const TOKEN_COOKIE = "quorumq_token";
export const SESSION_COOKIE = "quorumq_session";
const COOKIE_PATH = "/ui";

/** What a page needs to know about its viewer. */
export interface Viewer {
  /** The token to call the API with (auth on and valid), else undefined. */
  readonly token: string | undefined;
  /** Auth on and no valid token: the page asks for one. */
  readonly needsLogin: boolean;
  readonly name: string | undefined;
  /** May `admin` on the cluster (auth off: when anonymous callers may act). */
  readonly clusterAdmin: boolean;
  /** May do `permission` on this queue or topic (auth off: yes). */
  can(permission: Permission, kind: "queue" | "topic", name: string): boolean;
  /** May see this queue or topic: any permission on it (as `GET /v1/queues` filters). */
  sees(kind: "queue" | "topic", name: string): boolean;
  /** The `_csrf` value this viewer's forms carry. */
  readonly csrf: string;
}

/**
 * Signs session ids for CSRF tokens with a key made per process, at the first page that needs
 * one: 64 random bytes (HMAC-SHA-256's block, what `generateKey` makes by default) imported as
 * the key. `generateKey` itself cost ~33 ms of CPU and ~100 ms of wall time at every node start,
 * on the restart path of a node no one may ever open the dashboard of; the import ~0.6 ms.
 */
export class Sessions {
  #key: Promise<CryptoKey> | undefined;

  constructor(readonly auth: Authenticator | undefined, readonly anonymousActs = true) {}

  #signingKey(): Promise<CryptoKey> {
    return this.#key ??= crypto.subtle.importKey(
      "raw",
      crypto.getRandomValues(new Uint8Array(64)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
  }

  /** The viewer of a request; sets the session cookie when there is none yet. */
  async viewer(c: Context): Promise<Viewer> {
    const session = this.#session(c);
    const csrf = await this.#sign(session);
    const token = getCookie(c, TOKEN_COOKIE);
    let principal: Principal | undefined;
    if (this.auth !== undefined && token !== undefined) {
      principal = await this.auth.authenticate(`Bearer ${token}`);
    }
    const off = this.auth === undefined;
    const acts = off && this.anonymousActs;
    return {
      token: off || principal === undefined ? undefined : token,
      needsLogin: !off && principal === undefined,
      name: principal?.name,
      clusterAdmin: acts || principal?.can("admin") === true,
      can: (permission, kind, name) => acts || principal?.can(permission, kind, name) === true,
      sees: (kind, name) =>
        off ||
        (["publish", "consume", "admin"] as const).some((p) => principal?.can(p, kind, name)),
      csrf,
    };
  }

  /** True when `given` is this request's session's CSRF value. */
  async checkCsrf(c: Context, given: unknown): Promise<boolean> {
    const session = getCookie(c, SESSION_COOKIE);
    if (session === undefined || typeof given !== "string") return false;
    return timingSafeEqual(await this.#sign(session), given);
  }

  /** Keeps a token the auth file accepts in the HttpOnly cookie; false when it is not valid. */
  async login(c: Context, token: string): Promise<boolean> {
    if (this.auth === undefined) return true;
    if ((await this.auth.authenticate(`Bearer ${token}`)) === undefined) return false;
    setCookie(c, TOKEN_COOKIE, token, cookieOptions(c));
    return true;
  }

  logout(c: Context): void {
    setCookie(c, TOKEN_COOKIE, "", { ...cookieOptions(c), maxAge: 0 });
  }

  #session(c: Context): string {
    const existing = getCookie(c, SESSION_COOKIE);
    if (existing !== undefined && /^[0-9a-f]{32}$/.test(existing)) return existing;
    const id = [...crypto.getRandomValues(new Uint8Array(16))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    setCookie(c, SESSION_COOKIE, id, cookieOptions(c));
    return id;
  }

  async #sign(session: string): Promise<string> {
    const mac = await crypto.subtle.sign(
      "HMAC",
      await this.#signingKey(),
      new TextEncoder().encode(session),
    );
    return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
}

function cookieOptions(c: Context) {
  return {
    path: COOKIE_PATH,
    httpOnly: true,
    sameSite: "Strict" as const,
    secure: new URL(c.req.url).protocol === "https:",
  };
}

function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
