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
    // SIGHUP: read the certificate files again; new connections use them, open links keep going.
    Deno.addSignalListener("SIGHUP", () => {
      log.info("signal", { signal: "SIGHUP" });
      node.reloadTls().catch((e) =>
        log.error("tls_reload_failed", { error: String((e as Error)?.message ?? e) })
      );
    });
    Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  }
}
