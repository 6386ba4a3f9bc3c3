// `capsa system service`: serves the Docker Engine API in the foreground until
// SIGTERM or SIGINT, then closes its listeners and removes its socket file.
// Containers keep running: they belong to their monitors, not to the service.
import { parseEntitlements, type Entitlement } from "../types/build.ts";
import { collect, newCommand, UsageError } from "./command.ts";
import type { VerbTable } from "./verb.ts";

interface ServiceOpts {
  host?: string[];
  group?: string;
  allowOrigin?: string[];
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
  debug?: boolean;
  insecureTcp?: boolean;
  allowInsecureEntitlement?: string[];
}

export const verbs: VerbTable = {
  "system service": {
    command: (v) =>
      newCommand(v, "[OPTIONS]", "Serve the Docker Engine API (docker CLI, docker-py, compose…) until SIGTERM/SIGINT")
        .option("-H, --host <address>", "unix:///path or tcp://host:port (repeatable; default unix:///run/capsa/capsa.sock)", collect)
        .option("--group <name>", "Group that may use the unix socket (mode 0660)", "root")
        .option("--allow-origin <origin>", "Serve requests from web pages at this origin on TCP listeners (repeatable; * for any; default: none)", collect)
        .option("--tlsverify", "Require TLS with a client certificate signed by --tlscacert")
        .option("--tlscacert <file>", "CA that client certificates must chain to")
        .option("--tlscert <file>", "Server certificate")
        .option("--tlskey <file>", "Server key")
        .option("--insecure-tcp", "Allow plain-HTTP TCP on a loopback address (no TLS)")
        .option("--allow-insecure-entitlement <name>", "Let builds use an entitlement: network.host (RUN --network=host in a Containerfile); none by default", collect)
        .option("-D, --debug", "Log each request to stderr"),
    args: [0, 0],
    async run(ctx, opts) {
      const o = opts as ServiceOpts;
      const { ApiService } = await import("../api/server.ts");
      const { DEFAULT_HOST, checkSecurity, listen, parseHost } = await import("../api/listen.ts");
      let tls: { ca: string; cert: string; key: string } | undefined;
      if (o.tlsverify || o.tlscacert || o.tlscert || o.tlskey) {
        if (!o.tlsverify || !o.tlscacert || !o.tlscert || !o.tlskey) throw new UsageError(ctx.verb, "--tlsverify needs --tlscacert, --tlscert and --tlskey");
        tls = { ca: o.tlscacert, cert: o.tlscert, key: o.tlskey };
      }
      let entitlements: Entitlement[];
      try {
        entitlements = parseEntitlements(o.allowInsecureEntitlement ?? []);
      } catch (e) {
        throw new UsageError(ctx.verb, `invalid argument for "--allow-insecure-entitlement" flag: ${(e as Error).message}`);
      }
      const addrs = (o.host?.length ? o.host : [DEFAULT_HOST]).map(parseHost);
      // TLS applies to TCP listeners; a unix socket is guarded by its file mode.
      for (const a of addrs) checkSecurity(a, a.kind === "tcp" ? tls : undefined, !!o.insecureTcp);
      // A long-running service: a failure in one connection's background work is logged, never fatal.
      process.on("unhandledRejection", (e) => ctx.err(`capsa: service: unhandled error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`));
      const engine = await ctx.engine();
      const log = o.debug ? (l: string) => ctx.err(`${new Date().toISOString()} ${l}\n`) : undefined;
      const service = new ApiService(engine, { log, entitlements, allowOrigins: o.allowOrigin });
      const listeners = [];
      try {
        for (const a of addrs) listeners.push(await listen(service, a, { tls: a.kind === "tcp" ? tls : undefined, group: o.group, insecureTcp: !!o.insecureTcp }));
      } catch (e) {
        await Promise.all(listeners.map((l) => l.close()));
        throw e;
      }
      for (const l of listeners) ctx.err(`capsa: API listening on ${l.address}\n`);
      const signal = await new Promise<string>((resolve) => {
        process.once("SIGTERM", () => resolve("SIGTERM"));
        process.once("SIGINT", () => resolve("SIGINT"));
      });
      ctx.err(`capsa: ${signal}: closing the API listeners\n`);
      service.closeHijacked();
      await Promise.all(listeners.map((l) => l.close()));
      return 0;
    },
  },
};
