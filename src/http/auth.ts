/**
 * Bearer-token authorization. Off unless an auth file is given. The file:
 *
 * ```json
 * { "tokens": [
 *   { "name": "orders-service", "token": "s3cret-1",
 *     "publish": ["orders.*"], "consume": ["queue:jobs"], "admin": [] },
 *   { "name": "ops", "token": "s3cret-2", "admin": ["*"] }
 * ] }
 * ```
 *
 * A pattern is a queue/topic name where `*` matches any run of characters; a `queue:`, `topic:`
 * or `mqtt:` prefix limits it to that kind, otherwise it covers every kind. `mqtt:` patterns are
 * MQTT topic names and filters (the MQTT gateway checks them: `publish` for a PUBLISH's topic,
 * `consume` for a SUBSCRIBE's filter, e.g. `"mqtt:sensors/*"`; docs/mqtt.md). Cluster operations and
 * `/metrics` need `admin` on `*`.
 *
 * `"relay": true` marks the token of an edge gateway (`src/edge`): a stream opened with it may
 * carry each request's own `Authorization` (the gateway's caller), and each request then runs
 * with that caller's permissions only, never the relay token's (docs/edge.md).
 *
 * Tokens are compared in constant time: the presented token and every configured token are
 * hashed with SHA-256 and the fixed-length digests are compared with a loop that does not stop
 * at the first difference, and every configured token is checked, so timing reveals neither a
 * token's prefix nor which token matched.
 *
 * @module
 */

import { z } from "zod";

/** What a token may do. */
export type Permission = "publish" | "consume" | "admin";

/** The kind of a named resource (`mqtt`: an MQTT topic name or filter, see docs/mqtt.md). */
export type ResourceKind = "queue" | "topic" | "mqtt";

const patternList = z.array(z.string().min(1).max(300)).default([]);

/** The zod schema of the auth file. */
export const authFileSchema = z.strictObject({
  tokens: z.array(z.strictObject({
    name: z.string().min(1).max(128),
    token: z.string().min(8, "must be at least 8 characters"),
    publish: patternList,
    consume: patternList,
    admin: patternList,
    relay: z.boolean().default(false),
  })).min(1),
});

export type AuthFile = z.infer<typeof authFileSchema>;

interface CompiledPattern {
  readonly kind: ResourceKind | undefined;
  readonly regex: RegExp;
  /** The pattern is `*` with no kind: it also covers cluster-wide operations. */
  readonly all: boolean;
}

/** One authenticated caller. */
export interface Principal {
  readonly name: string;
  /** May speak for other callers on a stream (an edge gateway's token); absent: no. */
  readonly relay?: boolean;
  /** True when the principal may do `permission` on `name` of `kind` (undefined: cluster). */
  can(permission: Permission, kind?: ResourceKind, name?: string): boolean;
  /** True when some pattern of `permission` may match a name of `kind`. */
  covers(permission: Permission, kind: ResourceKind): boolean;
}

/** The verifier built from an auth file. */
export interface Authenticator {
  /** Resolves the principal for an `Authorization` header value, or undefined if invalid. */
  authenticate(header: string | null): Promise<Principal | undefined>;
}

interface Entry {
  readonly name: string;
  readonly relay: boolean;
  readonly digest: Uint8Array;
  readonly perms: Readonly<Record<Permission, readonly CompiledPattern[]>>;
}

/** Parses the auth file text; throws an Error that says what is wrong. */
export async function loadAuthenticator(text: string): Promise<Authenticator> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`Cannot parse the auth file: ${(error as Error).message}`);
  }
  const parsed = authFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid auth file at ${issue.path.join(".")}: ${issue.message}`);
  }
  return await createAuthenticator(parsed.data);
}

/** Builds the verifier from a validated auth file. */
export async function createAuthenticator(file: AuthFile): Promise<Authenticator> {
  const entries: Entry[] = [];
  for (const t of file.tokens) {
    entries.push({
      name: t.name,
      relay: t.relay,
      digest: await sha256(t.token),
      perms: {
        publish: t.publish.map(compilePattern),
        consume: t.consume.map(compilePattern),
        admin: t.admin.map(compilePattern),
      },
    });
  }
  return {
    async authenticate(header) {
      const match = header === null ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (match === null) return undefined;
      const digest = await sha256(match[1]);
      let found: Entry | undefined;
      for (const entry of entries) {
        // No early exit: every entry costs the same.
        if (constantTimeEqual(entry.digest, digest) && found === undefined) found = entry;
      }
      return found === undefined ? undefined : principalOf(found);
    },
  };
}

function principalOf(entry: Entry): Principal {
  return {
    name: entry.name,
    relay: entry.relay,
    can(permission, kind, name) {
      return entry.perms[permission].some((p) =>
        name === undefined ? p.all : (p.kind === undefined || p.kind === kind) && p.regex.test(name)
      );
    },
    covers(permission, kind) {
      return entry.perms[permission].some((p) => p.kind === undefined || p.kind === kind);
    },
  };
}

/** Compiles `queue:orders.*` into a kind and an anchored regex (`*` = any characters). */
export function compilePattern(pattern: string): CompiledPattern {
  const m = /^(queue|topic|mqtt):(.*)$/.exec(pattern);
  const kind = m ? m[1] as ResourceKind : undefined;
  const glob = m ? m[2] : pattern;
  const source = glob.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*");
  return { kind, regex: new RegExp(`^${source}$`), all: kind === undefined && glob === "*" };
}

/** Compares two byte arrays in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function sha256(text: string): Promise<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}
