/**
 * TLS in front of a plain listener on a private Unix socket: `node:tls` accepts and decrypts,
 * every connection is piped to the inner listener (the node's `Deno.serve`, or the MQTT gateway).
 *
 * Why not `Deno.serve` / `Deno.listenTls` with a certificate, which do TLS themselves:
 * - they leave Nagle's algorithm on for the sockets they accept with TLS (strace on Deno 2.9.6:
 *   no TCP_NODELAY, where plain `Deno.serve` sets it), and Deno's `TlsConn` has no `setNoDelay`.
 *   A small answer written while an earlier one is unacknowledged then waits for the client's
 *   delayed ACK: two WebSocket answers 2 ms apart arrived 42 ms apart on every try (plain: 2 ms),
 *   the stall of docs/transport.md on every stream and forwarding channel. `node:tls` sockets take
 *   `setNoDelay(true)`; through this front the same two answers arrive 2.4 ms apart;
 * - they cannot change their certificate; `setSecureContext` here swaps it for new connections
 *   while every open one, WebSockets included, keeps going (SIGHUP, docs/tls.md).
 * The cost is one copy through a Unix socket in the same process: 500 sequential HTTPS requests
 * took 155 ms against 115 ms straight into `Deno.serve` (+0.08 ms each), measured together.
 *
 * The inner socket lives in a directory only this user can enter (mode 0700, `privateSocketDir`),
 * so nothing on the machine reaches the node around TLS.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { Logger } from "../log.ts";

/** How long a client's side may sit idle after the node ended the connection before it is cut. */
const END_WAIT_MS = 5_000;

export interface TlsFrontOptions {
  readonly hostname: string;
  readonly port: number;
  readonly cert: string;
  readonly key: string;
  /** The inner listener's Unix socket path. */
  readonly innerPath: string;
  readonly log: Logger;
  /** What it fronts, for the log: "http" or "mqtt". */
  readonly name: string;
}

export class TlsFront {
  readonly #server: tls.Server;
  readonly #sockets = new Set<net.Socket>();
  #port = 0;

  private constructor(private readonly opts: TlsFrontOptions) {
    this.#server = tls.createServer({ cert: opts.cert, key: opts.key }, (outer) => {
      // The point of the front (module comment): small frames leave at once.
      outer.setNoDelay(true);
      const inner = net.connect({ path: opts.innerPath });
      this.#sockets.add(outer);
      this.#sockets.add(inner);
      outer.pipe(inner);
      inner.pipe(outer);
      const forget = () => {
        this.#sockets.delete(outer);
        this.#sockets.delete(inner);
      };
      // The client gone: nothing more can reach it.
      outer.on("error", () => inner.destroy());
      outer.on("close", () => {
        inner.destroy();
        forget();
      });
      // The node hung up: the pipe has already ended the client's side, which flushes what is
      // still buffered (a `Connection: close` answer) before it closes; only a failure cuts.
      inner.on("error", () => outer.destroy());
      inner.on("close", (hadError) => {
        if (hadError) outer.destroy();
        // A client that went away without a word never takes the rest: after END_WAIT_MS with
        // nothing moving (a slow reader still reading is not idle), it is cut.
        else outer.setTimeout(END_WAIT_MS, () => outer.destroy());
        forget();
      });
    });
    // Listening failures after start (out of file descriptors, ...) are logged, not thrown.
    this.#server.on("error", (error) => {
      opts.log.warn("tls_front_error", { name: opts.name, error: String(error) });
    });
    // A client that fails the handshake (no trust in our CA, plain HTTP on this port) is its own
    // business; it is not the node's error.
    this.#server.on("tlsClientError", () => {});
  }

  /** Listens on `hostname:port`; resolves once bound (rejects when the port is taken). */
  static start(opts: TlsFrontOptions): Promise<TlsFront> {
    const front = new TlsFront(opts);
    return new Promise((resolve, reject) => {
      front.#server.once("error", reject);
      front.#server.listen(opts.port, opts.hostname, () => {
        front.#server.off("error", reject);
        front.#port = (front.#server.address() as net.AddressInfo).port;
        resolve(front);
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  /** New connections get `cert`/`key`; open ones keep theirs. */
  replace(cert: string, key: string): void {
    this.#server.setSecureContext({ cert, key });
    this.opts.log.info("tls_front_reloaded", { name: this.opts.name, port: this.#port });
  }

  /** Stops accepting; open connections keep going until `destroyAll`. */
  stopAccepting(): void {
    // node's close() callback waits for every open connection: not awaited here.
    this.#server.close();
  }

  destroyAll(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }
}

/** Longest Unix socket path Linux takes is 107 bytes; leave room for the socket's name. */
const SOCKET_DIR_MAX = 90;

/**
 * A directory only this user can enter, for the inner Unix sockets: `<data>/sockets` (the node
 * owns its data directory, and a node killed with SIGKILL leaves nothing behind elsewhere), or a
 * fresh temp directory when that path is too long for a socket. Stale sockets in it are removed;
 * one that still answers means another node runs on this data directory, and start fails.
 */
export async function privateSocketDir(dataDir: string): Promise<string> {
  const inData = `${dataDir.replace(/\/+$/, "")}/sockets`;
  const dir = new TextEncoder().encode(inData).byteLength <= SOCKET_DIR_MAX
    ? inData
    : await Deno.makeTempDir({ prefix: "quorumq-tls-" });
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".sock")) continue;
    const path = `${dir}/${entry.name}`;
    // A socket something still answers on belongs to a running node on this data directory.
    const live = await Deno.connect({ transport: "unix", path }).then((c) => {
      c.close();
      return true;
    }, () => false);
    if (live) throw new Error(`${path} is in use: another node runs on this data directory`);
    await Deno.remove(path);
  }
  return dir;
}
