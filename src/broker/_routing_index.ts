/**
 * The routing index of one topic: which subscriptions a published message goes to. Patterns live
 * in a trie of tokens (a literal child per token, one `*` child, and the subscriptions whose
 * pattern ends in `>` at a node), so a publish walks the subject's tokens, not the subscriptions:
 * it costs about the same with 10,000 filtered subscriptions as with 10. Every trie node is
 * reached by one path only (its depth is its token index), so a walk visits each node at most
 * once, whatever mix of `*` and literals the patterns use.
 *
 * Deterministic: the answer is sorted by subscription ordinal, so neither the order patterns were
 * added in nor a snapshot restore's rebuild can change what apply does. Folder-private.
 *
 * @module
 */

import type { HeaderMatch } from "./commands.ts";
import { headersMatch } from "./subject.ts";

/** What the index routes to: a subscription's ordinal is its deterministic order. */
export interface Routed {
  readonly ord: number;
}

/** A subscription's routing rules: patterns (none: any subject) and header conditions. */
export interface RouteSpec {
  readonly filters?: readonly string[];
  readonly headers?: HeaderMatch;
}

interface Entry<T extends Routed> {
  readonly target: T;
  readonly filters: readonly string[] | undefined;
  readonly headers: HeaderMatch | undefined;
  /** The match pass that last took this entry: one subscription is routed a message once. */
  mark: number;
}

interface Node<T extends Routed> {
  lit: Map<string, Node<T>> | undefined;
  star: Node<T> | undefined;
  /** Patterns that end exactly here (arrays: a publish iterates them, a change is rare). */
  here: Entry<T>[] | undefined;
  /** Patterns that end with `>` after this node's tokens (one or more tokens more). */
  rest: Entry<T>[] | undefined;
}

function newNode<T extends Routed>(): Node<T> {
  return { lit: undefined, star: undefined, here: undefined, rest: undefined };
}

const NONE: readonly never[] = Object.freeze([]);

export class RoutingIndex<T extends Routed> {
  readonly #root: Node<T> = newNode();
  readonly #entries = new Map<T, Entry<T>>();
  /** Subscriptions with no patterns: every subject, and messages without one (headers aside). */
  readonly #anySubject = new Set<Entry<T>>();
  #pass = 0;

  get size(): number {
    return this.#entries.size;
  }

  /** Whether any target has patterns (else every target takes every subject). */
  get filtered(): boolean {
    return this.#entries.size > this.#anySubject.size;
  }

  /** Sets (or replaces) the routing rules of `target`. */
  set(target: T, spec: RouteSpec): void {
    this.delete(target);
    const e: Entry<T> = {
      target,
      filters: spec.filters !== undefined && spec.filters.length > 0 ? spec.filters : undefined,
      headers: spec.headers !== undefined && Object.keys(spec.headers).length > 0
        ? spec.headers
        : undefined,
      mark: 0,
    };
    this.#entries.set(target, e);
    if (e.filters === undefined) {
      this.#anySubject.add(e);
      return;
    }
    for (const p of e.filters) this.#insert(p, e);
  }

  delete(target: T): void {
    const e = this.#entries.get(target);
    if (e === undefined) return;
    this.#entries.delete(target);
    if (e.filters === undefined) this.#anySubject.delete(e);
    else for (const p of e.filters) this.#remove(this.#root, p.split("."), 0, e);
  }

  #insert(pattern: string, e: Entry<T>): void {
    const tokens = pattern.split(".");
    let n = this.#root;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t === ">") {
        (n.rest ??= []).push(e);
        return;
      }
      if (t === "*") n = n.star ??= newNode();
      else {
        const lit = n.lit ??= new Map();
        let next = lit.get(t);
        if (next === undefined) lit.set(t, next = newNode());
        n = next;
      }
    }
    (n.here ??= []).push(e);
  }

  /** Removes `e` under `n`; returns whether `n` is now empty (its parent drops it). */
  #remove(n: Node<T>, tokens: string[], i: number, e: Entry<T>): boolean {
    if (i === tokens.length) n.here = without(n.here, e);
    else if (tokens[i] === ">") n.rest = without(n.rest, e);
    else if (tokens[i] === "*") {
      if (n.star !== undefined && this.#remove(n.star, tokens, i + 1, e)) n.star = undefined;
    } else {
      const next = n.lit?.get(tokens[i]);
      if (next !== undefined && this.#remove(next, tokens, i + 1, e)) n.lit!.delete(tokens[i]);
    }
    if (n.lit?.size === 0) n.lit = undefined;
    return n.here === undefined && n.rest === undefined && n.lit === undefined &&
      n.star === undefined;
  }

  /**
   * The targets a message with this subject (undefined: none) and headers goes to, each once,
   * by ascending ordinal.
   */
  match(subject: string | undefined, headers: Readonly<Record<string, string>> | undefined): T[] {
    // No target at all (a topic nobody subscribes to): one shared empty list, not one per
    // message. Never kept: a topic keeps a message's targets only when they are filtered.
    if (this.#entries.size === 0) return NONE as unknown as T[];
    const out: T[] = [];
    const pass = ++this.#pass;
    if (this.#anySubject.size > 0) {
      for (const e of this.#anySubject) {
        take(e, pass, headers, out);
      }
    }
    if (subject !== undefined && this.filtered) {
      walk(this.#root, subject.split("."), 0, pass, headers, out);
    }
    if (out.length > 1) out.sort((a, b) => a.ord - b.ord);
    return out;
  }
}

/** `list` without `e` (undefined when that leaves it empty). */
function without<T>(list: T[] | undefined, e: T): T[] | undefined {
  if (list === undefined) return undefined;
  const i = list.indexOf(e);
  if (i >= 0) list.splice(i, 1);
  return list.length === 0 ? undefined : list;
}

function take<T extends Routed>(
  e: Entry<T>,
  pass: number,
  headers: Readonly<Record<string, string>> | undefined,
  out: T[],
): void {
  if (e.mark === pass) return;
  e.mark = pass;
  if (e.headers === undefined || headersMatch(e.headers, headers)) out.push(e.target);
}

function takeAll<T extends Routed>(
  list: Entry<T>[] | undefined,
  pass: number,
  headers: Readonly<Record<string, string>> | undefined,
  out: T[],
): void {
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) take(list[i], pass, headers, out);
}

function walk<T extends Routed>(
  n: Node<T>,
  tokens: readonly string[],
  i: number,
  pass: number,
  headers: Readonly<Record<string, string>> | undefined,
  out: T[],
): void {
  if (i === tokens.length) {
    takeAll(n.here, pass, headers, out);
    return;
  }
  takeAll(n.rest, pass, headers, out);
  const next = n.lit?.get(tokens[i]);
  if (next !== undefined) walk(next, tokens, i + 1, pass, headers, out);
  if (n.star !== undefined) walk(n.star, tokens, i + 1, pass, headers, out);
}
