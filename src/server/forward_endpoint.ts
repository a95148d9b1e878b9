/**
 * The leader's end of the forwarding channel: a follower's WebSocket on `/cluster/v1/forward`
 * carries the writes it forwards; each is run through this node's own app, exactly as if it had
 * arrived over HTTP (same routes, same auth: the Authorization header travels with it, same body
 * limit), and its whole answer goes back in one frame. Cheaper than an HTTP request per forwarded
 * write: no connection pool, no request parsing, no body streams on either side.
 *
 * @module
 */

import {
  DEFAULT_LIMITS,
  HANDSHAKE_PATIENCE_MAX,
  Keepalive,
  PING,
  PONG,
} from "../../cluster/transport/mod.ts";
import {
  type Answer,
  answerTextOf,
  inProcessRequest,
  type NodeApp,
  problemResponse,
} from "../http/mod.ts";
import type { Logger } from "../log.ts";
import {
  decodeForwardRequest,
  encodeForwardFrame,
  type ForwardRequestFrame,
  type ForwardResponseFrame,
} from "./forward_frames.ts";
import { type ForwardCheck, ForwardGate } from "./forward_proof.ts";

/** Answers one request, as the node's HTTP listener would. */
export type AppFetch = (request: Request) => Response | Promise<Response>;

/**
 * How long the leader's end keeps a channel whose follower sent nothing (not even its 250 ms
 * pings): as patient as a peer link's listener. The follower gives up at its own 2 s bound and
 * redials; this end's drop only frees a dead follower's socket. At 2 s it dropped followers that
 * were alive but starting or stalled, and every write in flight on the channel became an unknown
 * outcome for its client although the leader ran it.
 */
export const FORWARD_LISTENER_SILENCE_MS = DEFAULT_LIMITS.linkSilenceMs * HANDSHAKE_PATIENCE_MAX;

/** What the leader's end may be given besides the app. */
export interface ForwardUpgradeOptions {
  /** With peer TLS: the follower proves its certificate first (forward_proof.ts). */
  readonly check?: ForwardCheck;
  /** The app's direct routes (`NodeApp.forwarded`): a forwarded write runs without a `Request`. */
  readonly direct?: NodeApp["forwarded"];
  /** Tests: `FORWARD_LISTENER_SILENCE_MS` unless given. */
  readonly silenceMs?: number;
}

/** Upgrades `req` and serves forwarded requests on it until it closes. */
export function handleForwardUpgrade(
  req: Request,
  app: AppFetch,
  log: Logger,
  options: ForwardUpgradeOptions = {},
): Response {
  const { check, direct } = options;
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("expected a WebSocket upgrade", {
      status: 426,
      headers: { upgrade: "websocket" },
    });
  }
  const origin = new URL(req.url).origin;
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.binaryType = "arraybuffer";
  // The follower pings every 250 ms: a socket silent this long lost its follower (a partition, a
  // machine gone) and is dropped rather than kept open for good.
  const keepalive = new Keepalive({
    keepaliveMs: DEFAULT_LIMITS.keepaliveMs,
    linkSilenceMs: options.silenceMs ?? FORWARD_LISTENER_SILENCE_MS,
    onBeat: () => {},
    onSilent: () => {
      try {
        socket.close(4005, "forwarding channel silent");
      } catch { /* closing already */ }
    },
  });
  // With peer TLS the follower proves its certificate first (forward_proof.ts).
  const gate = new ForwardGate(check, (reason, details) => {
    log.warn("peer_refused", { channel: "forward", reason, ...details });
    socket.close(4003, reason);
  });
  socket.onopen = () => {
    keepalive.start();
    const challenge = gate.challenge();
    if (challenge !== undefined) socket.send(challenge);
  };
  socket.onclose = () => keepalive.stop();
  socket.onmessage = (ev) => {
    keepalive.heard();
    if (ev.data === PING) {
      if (socket.readyState === WebSocket.OPEN) socket.send(PONG);
      return;
    }
    if (!gate.proved) {
      const welcome = gate.hello(ev.data);
      if (welcome !== undefined) socket.send(welcome);
      return;
    }
    const frame = ev.data instanceof ArrayBuffer
      ? decodeForwardRequest(new Uint8Array(ev.data))
      : undefined;
    if (frame === undefined) {
      log.warn("forward_frame_rejected", {});
      socket.close(4002, "bad forward frame");
      return;
    }
    void (async () => {
      let answer: Response | Answer;
      try {
        answer = await (runDirect(origin, frame, direct) ?? app(forwardedRequest(origin, frame)));
      } catch (error) {
        // The app answers every failure itself; this is a bug (or a request Request refused).
        log.error("forward_failed", { path: frame.p, error: String(error) });
        answer = problemResponse("internal_error", "The forwarded request could not be run");
      }
      const reply = answer instanceof Response
        ? await responseFrame(frame.i, answer)
        : answerFrame(frame.i, answer);
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(encodeForwardFrame(reply));
    })().catch((error) => log.error("forward_failed", { path: frame.p, error: String(error) }));
  };
  return response;
}

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lossyUtf8 = new TextDecoder();

/**
 * A body's UTF-8 text, or undefined when it is not UTF-8 or begins with a byte order mark (see
 * `forwardedRequest`). Decoded with replacement first (~4x cheaper than strictly): a text
 * without U+FFFD is the strict decoder's; one with it is decoded strictly.
 */
function bodyText(bytes: Uint8Array): string | undefined {
  if (bytes.byteLength >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return undefined;
  }
  const text = lossyUtf8.decode(bytes);
  if (!text.includes("\uFFFD")) return text;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The frame of the app's answer. */
async function responseFrame(i: number, answer: Response): Promise<ForwardResponseFrame> {
  // An in-process answer made from text has no body: its text is read back instead.
  const b = answer.body === null
    ? encoder.encode(await answerTextOf(answer))
    : new Uint8Array(await answer.arrayBuffer());
  return { i, s: answer.status, h: [...answer.headers], b };
}

const NO_BYTES = new Uint8Array(0);

/**
 * The frame of a direct route's answer: what `responseFrame` makes of the `Response` the app
 * would have made of it (`responseOf`, in process: no body, its text read back; a `Headers`
 * gives its names in order).
 */
function answerFrame(i: number, answer: Answer): ForwardResponseFrame {
  const h = Object.entries(answer.headers).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
  const b = answer.status === 204 ? NO_BYTES : encoder.encode(answer.text);
  return { i, s: answer.status, h, b };
}

/** A header name as `Headers` takes it (RFC 9110 token), lower case. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** A header value `Headers` would keep as it is (visible ASCII, inner spaces; no trimming). */
const PLAIN_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

/**
 * A forwarded write run on the app's direct routes, when they take it and the frame reads the
 * same as the `Request` `forwardedRequest` would make of it: every header a plain name and value,
 * each name once, and a body that is UTF-8 text (or none). Else undefined: the app runs it.
 */
function runDirect(
  origin: string,
  frame: ForwardRequestFrame,
  direct: NodeApp["forwarded"] | undefined,
): Promise<Response | Answer> | undefined {
  if (direct === undefined) return undefined;
  const headers: Record<string, string> = Object.create(null);
  for (const [name, value] of frame.h) {
    const lower = name.toLowerCase();
    if (!TOKEN.test(lower) || !PLAIN_VALUE.test(value) || lower in headers) return undefined;
    headers[lower] = value;
  }
  let text: string | undefined;
  const bytes = frame.b;
  if (bytes !== undefined && bytes.byteLength > 0) {
    text = bodyText(bytes);
    if (text === undefined) return undefined;
  }
  return direct(frame.m, frame.p, headers, text, () => forwardedRequest(origin, frame));
}

/**
 * The app's request for a forwarded one. A body that is UTF-8 text (every JSON body) is handed
 * over in process as well (`inProcessRequest`): the app reads the text instead of a body
 * stream and answers without one (no CORS either: the follower's app answers its caller),
 * ~16 µs less per forwarded write here, as for the stream's requests. The bytes stay on the
 * request, so whatever reads the stream still gets them. A body that is not UTF-8, or begins
 * with a byte order mark (which decoding drops, so the text would be 3 bytes shorter than what
 * the body limit counts), goes only as bytes: the app then refuses or reads it as from the
 * network.
 */
function forwardedRequest(origin: string, frame: ForwardRequestFrame): Request {
  const url = origin + frame.p;
  const headers = new Headers(frame.h);
  const bytes = frame.b !== undefined && frame.b.byteLength > 0 ? frame.b : undefined;
  if (bytes === undefined) return inProcessRequest(url, { method: frame.m, headers }, undefined);
  const text = bodyText(bytes);
  const init: { method: string; headers: Headers; body: BodyInit } = {
    method: frame.m,
    headers,
    body: bytes,
  };
  return text === undefined ? new Request(url, init) : inProcessRequest(url, init, text);
}
