/**
 * The quorumq node: `deno task start [options]` (`--help` lists them). With no options it is
 * the embedded default, a one-node cluster on http://127.0.0.1:8080 with its data in ./data.
 *
 * @module
 */

import { parseConfig } from "./config.ts";
import { createLogger } from "./log.ts";
import { startNode } from "./server/mod.ts";

const parsed = parseConfig(Deno.args, Deno.env.toObject(), (path) => Deno.readTextFileSync(path));
switch (parsed.kind) {
  case "help":
    console.log(parsed.text);
    Deno.exit(0);
    break;
  case "error":
    console.error(`quorumq: ${parsed.message}`);
    Deno.exit(2);
    break;
  case "config": {
    const config = parsed.config;
    const holder: { term?: () => number } = {};
    const log = createLogger({
      level: config.logLevel,
      node: config.id,
      term: () => holder.term?.(),
    });
    // SIGHUP: read the certificate files again; new connections use them, open links keep going.
    // Listened for before the start: SIGHUP's default action ends the process, and a certificate
    // manager may signal a node that is still starting (a restore takes seconds). A reload asked
    // for then runs once the node is up, so it does not keep the files it read before the change.
    const reload: { now?: () => void; pending: boolean } = { pending: false };
    Deno.addSignalListener("SIGHUP", () => {
      log.info("signal", { signal: "SIGHUP" });
      if (reload.now === undefined) reload.pending = true;
      else reload.now();
    });
    log.info("node_starting", { pid: Deno.pid });
    let running;
    try {
      running = await startNode(config, log);
    } catch (e) {
      log.error("start_failed", { error: String((e as Error)?.message ?? e) });
      console.error(`quorumq: cannot start: ${(e as Error)?.message ?? e}`);
      Deno.exit(1);
    }
    const node = running;
    holder.term = () => node.driver.status().term;
    console.log(
      `quorumq ${config.id} listening on ${node.url} (data: ${
        config.storage === "memory" ? "memory" : config.dataDir
      })`,
    );
    const stop = async (signal: string) => {
      log.info("signal", { signal });
      // A second signal during a graceful stop exits at once.
      const hard = () => Deno.exit(130);
      Deno.addSignalListener("SIGINT", hard);
      await node.shutdown();
      Deno.exit(0);
    };
    reload.now = () =>
      void node.reloadTls().catch((e) =>
        log.error("tls_reload_failed", { error: String((e as Error)?.message ?? e) })
      );
    if (reload.pending) reload.now();
    Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  }
}
