/**
 * The `workerd` config of a local gateway (Cap'n Proto text): the bundled Worker, its Durable
 * Object namespace (in memory: the gateway stores nothing), its settings as text bindings, a
 * socket on `--listen`, and an outbound network that may reach loopback and private addresses
 * (workerd's default reaches only public ones), trusting the upstream's CA when given.
 *
 * @module
 */

/** What goes in the config. */
export interface WorkerdConfigOptions {
  /** The bundled Worker module, relative to the config file. */
  readonly module: string;
  /** `host:port` to listen on. */
  readonly listen: string;
  /** The Worker's vars (`QUORUMQ_UPSTREAM`, ...). */
  readonly vars: Readonly<Record<string, string>>;
  /** A PEM file (relative to the config) of the CA that signed the upstream's certificates. */
  readonly caFile?: string;
  /** V8 flags (`v8Flags` of workerd's config); default none. */
  readonly v8Flags?: readonly string[];
}

/** Renders the config; `const config` is what `workerd serve <file>` runs. */
export function workerdConfig(o: WorkerdConfigOptions): string {
  const bindings = Object.entries(o.vars)
    .map(([name, value]) => `      (name = ${capnpString(name)}, text = ${capnpString(value)}),`)
    .join("\n");
  const tls = o.caFile === undefined
    ? ""
    : `,\n      tlsOptions = (trustedCertificates = [embed ${capnpString(o.caFile)}])`;
  const v8Flags = o.v8Flags === undefined || o.v8Flags.length === 0
    ? ""
    : `v8Flags = [${o.v8Flags.map(capnpString).join(", ")}],\n  `;
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edgeWorker),
    (name = "upstream", network = (
      allow = ["public", "private", "local"]${tls}
    )),
  ],
  ${v8Flags}sockets = [(name = "http", address = ${
    capnpString(o.listen)
  }, http = (), service = "edge")],
);

const edgeWorker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed ${capnpString(o.module)})],
  compatibilityDate = "2025-09-01",
  bindings = [
${bindings}
      (name = "EDGE_GATEWAY", durableObjectNamespace = "EdgeGateway"),
  ],
  durableObjectNamespaces = [(className = "EdgeGateway", uniqueKey = "quorumq-edge-gateway")],
  durableObjectStorage = (inMemory = void),
  globalOutbound = "upstream",
);
`;
}

/** A Cap'n Proto text literal. */
function capnpString(s: string): string {
  return JSON.stringify(s);
}
