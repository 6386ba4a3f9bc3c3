// Authentication and TLS against real registries: htpasswd Basic auth over TLS
// with a CA made here by openssl; and the bearer-token flow.
//
// Bearer: distribution's own `auth: token` needs a signing cert bundle and a
// token service; instead a small gate written here (Node http on 127.0.0.1)
// stands in front of the real registry: it answers /v2/ requests without a
// valid token with a `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
// challenge, issues tokens from its /token endpoint for Basic credentials
// (anonymous callers get a token with no access, as Docker Hub does), checks
// the token's scopes against each request, and forwards allowed requests to the
// registry. The registry itself is real; only the token service is a stand-in.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { importBusybox } from "../helpers.ts";
import { capsaAsync, forward, haveTools, listen, makeCredentialHelper, makeHtpasswd, makeTls, registryTestRoot, startRegistry, type CredentialHelper, type RunningRegistry, type Server } from "./fixtures.ts";

const skip = haveTools();

function ok(r: { status: number | null; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

function oneLineError(r: { status: number | null; stderr: string }, re: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("WARNING!"));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^capsa: /);
  assert.match(r.stderr, re);
}

void describe("registry auth: htpasswd over TLS", { skip }, () => {
  let reg: RunningRegistry;
  let ca: string;
  let dir: string;
  const roots: { cleanup(): void }[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "capsa-tls-"));
    const tls = makeTls(dir);
    ca = tls.ca;
    makeHtpasswd(path.join(dir, "htpasswd"), "alice", "s3cret");
    reg = await startRegistry({ tls, htpasswd: path.join(dir, "htpasswd") });
  });
  after(async () => {
    for (const t of roots) t.cleanup();
    await reg?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  void it("refuses an unknown CA, then logs in with the configured CA, pushes, pulls with docker's config.json, logs out", () => {
    const noCa = registryTestRoot("tls-noca");
    roots.push(noCa);
    oneLineError(noCa.capsa(["login", "-u", "alice", "--password-stdin", reg.host], { input: "s3cret\n" }), /certificate|self.signed|unable to verify/i);

    const a = registryTestRoot("tls-a", { registries: { [reg.host]: { ca } } });
    roots.push(a);
    importBusybox(a);
    // Anonymous: the registry's 401 in one line.
    oneLineError(a.capsa(["push", "busybox", `${reg.host}/auth/bb:1`]), /unauthorized/);
    // Wrong password: refused, nothing stored.
    oneLineError(a.capsa(["login", "-u", "alice", "--password-stdin", reg.host], { input: "wrong\n" }), /unauthorized: incorrect username or password/);
    assert.ok(!fs.existsSync(path.join(a.root, "auth.json")));
    assert.equal(ok(a.capsa(["login", "-u", "alice", "--password-stdin", reg.host], { input: "s3cret\n" }), "login"), "Login Succeeded\n");
    const authFile = path.join(a.root, "auth.json");
    assert.equal(fs.statSync(authFile).mode & 0o777, 0o600);
    const saved = JSON.parse(fs.readFileSync(authFile, "utf8")) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(saved.auths[reg.host]!.auth, "base64").toString(), "alice:s3cret");
    ok(a.capsa(["push", "busybox", `${reg.host}/auth/bb:1`]), "push");

    // Another root has no capsa login, but docker's config.json has the credentials.
    const b = registryTestRoot("tls-b", { registries: { [reg.host]: { ca } } });
    roots.push(b);
    oneLineError(b.capsa(["pull", `${reg.host}/auth/bb:1`]), /unauthorized/);
    fs.writeFileSync(path.join(b.dockerConfig, "config.json"), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }));
    ok(b.capsa(["pull", `${reg.host}/auth/bb:1`]), "pull with docker's config.json");
    assert.equal(ok(b.capsa(["run", "--rm", `${reg.host}/auth/bb:1`, "echo", "tls"]), "run").trim(), "tls");

    assert.equal(ok(a.capsa(["logout", reg.host]), "logout"), `Removing login credentials for ${reg.host}\n`);
    assert.equal(ok(a.capsa(["logout", reg.host]), "logout again"), `Not logged in to ${reg.host}\n`);
    oneLineError(a.capsa(["pull", `${reg.host}/auth/bb:1`]), /unauthorized/);
  });
});

void describe("registry auth: bearer tokens (a token gate in front of the real registry)", { skip }, () => {
  let reg: RunningRegistry;
  let gate: Server;
  const issued = new Map<string, Set<string>>();
  const requestedScopes: string[] = [];
  const refreshGrants: string[] = [];
  const roots: { cleanup(): void }[] = [];

  before(async () => {
    reg = await startRegistry();
    let n = 0;
    gate = await listen((req, res) => {
      const url = new URL(req.url ?? "/", "http://gate");
      if (url.pathname === "/token" && req.method === "POST") {
        // OAuth2 refresh-token grant: how clients trade an identity token for an access token.
        let body = "";
        req.on("data", (d: Buffer) => (body += d.toString()));
        req.on("end", () => {
          const form = new URLSearchParams(body);
          refreshGrants.push(`${form.get("grant_type")} ${form.get("client_id")} ${form.get("scope")}`);
          if (form.get("grant_type") !== "refresh_token" || form.get("refresh_token") !== "refresh-bob") {
            res.writeHead(401, { "content-type": "application/json" }).end('{"details":"invalid refresh token"}');
            return;
          }
          const grants = new Set<string>();
          for (const s of (form.get("scope") ?? "").split(" ").filter(Boolean)) for (const a of s.split(":")[2]?.split(",") ?? []) grants.add(`${s.split(":")[1]}:${a}`);
          const token = `tok-${++n}`;
          issued.set(token, grants);
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ access_token: token, expires_in: 300 }));
        });
        return;
      }
      if (url.pathname === "/token") {
        const basic = req.headers.authorization?.replace(/^Basic /, "");
        const user = basic ? Buffer.from(basic, "base64").toString() : undefined;
        if (user !== undefined && user !== "bob:hunter2") {
          res.writeHead(401, { "content-type": "application/json" }).end('{"details":"incorrect username or password"}');
          return;
        }
        const scopes = url.searchParams.getAll("scope");
        requestedScopes.push(...scopes);
        const grants = new Set<string>();
        if (user) for (const s of scopes) for (const a of s.split(":")[2]?.split(",") ?? []) grants.add(`${s.split(":")[1]}:${a}`);
        const token = `tok-${++n}`;
        issued.set(token, grants);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, expires_in: 300 }));
        return;
      }
      const token = req.headers.authorization?.replace(/^Bearer /, "");
      const grants = token ? issued.get(token) : undefined;
      const m = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(url.pathname);
      const action = req.method === "GET" || req.method === "HEAD" ? "pull" : "push";
      const needed = m ? `${m[1]}:${action}` : undefined;
      if (!grants || (needed && !grants.has(needed))) {
        const scope = m ? ` ,scope="repository:${m[1]}:${action === "push" ? "pull,push" : "pull"}"` : "";
        res
          .writeHead(401, {
            "content-type": "application/json",
            "www-authenticate": `Bearer realm="http://${gate.host}/token",service="capsa-test"${scope.replace(" ", "")}`,
          })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      forward(req, res, reg.port);
    });
  });
  after(async () => {
    for (const t of roots) t.cleanup();
    await gate?.close();
    await reg?.stop();
  });

  void it("logs in through the token service, pushes and pulls with scoped tokens; anonymous pulls are refused", async () => {
    const a = registryTestRoot("bearer-a");
    roots.push(a);
    importBusybox(a);
    oneLineError(await capsaAsync(a, ["login", "-u", "bob", "-p", "nope", gate.host]), /incorrect username or password/);
    const login = await capsaAsync(a, ["login", "-u", "bob", "-p", "hunter2", gate.host]);
    ok(login, "login");
    assert.match(login.stderr, /WARNING! Using --password via the CLI is insecure/);
    ok(await capsaAsync(a, ["push", "busybox", `${gate.host}/team/bb:1`]), "push");
    assert.ok(requestedScopes.includes("repository:team/bb:pull,push"), requestedScopes.join(" "));

    const anon = registryTestRoot("bearer-anon");
    roots.push(anon);
    oneLineError(await capsaAsync(anon, ["pull", `${gate.host}/team/bb:1`]), /unauthorized/);
    assert.deepEqual(fs.readdirSync(anon.root).filter((n) => n === "blobs" || n === "layers").flatMap((d) => fs.readdirSync(path.join(anon.root, d))), d0(anon.root));

    const b = registryTestRoot("bearer-b");
    roots.push(b);
    ok(await capsaAsync(b, ["login", "--username", "bob", "--password-stdin", gate.host], { input: "hunter2" }), "login b");
    ok(await capsaAsync(b, ["pull", `${gate.host}/team/bb:1`]), "pull");
    assert.ok(requestedScopes.includes("repository:team/bb:pull"));
    assert.equal(ok(await capsaAsync(b, ["run", "--rm", `${gate.host}/team/bb:1`, "echo", "bearer"]), "run").trim(), "bearer");
  });

  void it("an identity token (a helper's <token> answer) is traded with the refresh-token grant", async () => {
    const helper = makeCredentialHelper("capsatoken");
    try {
      const c = registryTestRoot("bearer-idtoken");
      roots.push(c);
      c.env.PATH = `${helper.binDir}:${process.env.PATH ?? ""}`;
      fs.writeFileSync(path.join(c.dockerConfig, "config.json"), JSON.stringify({ credHelpers: { [gate.host]: "capsatoken" } }));
      helper.put(gate.host, "<token>", "stale");
      oneLineError(await capsaAsync(c, ["pull", `${gate.host}/team/bb:1`]), /the identity token was refused/);
      helper.put(gate.host, "<token>", "refresh-bob");
      ok(await capsaAsync(c, ["pull", `${gate.host}/team/bb:1`]), "pull with an identity token");
      assert.ok(refreshGrants.includes("refresh_token docker repository:team/bb:pull"), refreshGrants.join("; "));
    } finally {
      helper.remove();
    }
  });
});

/** What an empty state root holds below blobs/ and layers/ (nothing, or an empty sha256 dir). */
function d0(root: string): string[] {
  const out: string[] = [];
  for (const d of ["blobs", "layers"]) if (fs.existsSync(path.join(root, d))) out.push(...fs.readdirSync(path.join(root, d)));
  return out.filter((n) => n !== "sha256");
}

void describe("registry auth: credential helpers (a docker-credential-* executable on PATH)", { skip }, () => {
  let reg: RunningRegistry;
  let dir: string;
  let helper: CredentialHelper;
  const roots: { cleanup(): void }[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "capsa-helper-"));
    makeHtpasswd(path.join(dir, "htpasswd"), "carol", "pa55");
    reg = await startRegistry({ htpasswd: path.join(dir, "htpasswd") });
    helper = makeCredentialHelper("capsatest");
  });
  after(async () => {
    for (const t of roots) t.cleanup();
    await reg?.stop();
    helper?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const withHelper = (label: string): ReturnType<typeof registryTestRoot> => {
    const t = registryTestRoot(label);
    roots.push(t);
    t.env.PATH = `${helper.binDir}:${process.env.PATH ?? ""}`;
    return t;
  };

  void it("credsStore in capsa's file: login stores through the helper (no secret on disk), push gets it, logout erases", () => {
    const a = withHelper("helper-a");
    importBusybox(a);
    const authFile = path.join(a.root, "auth.json");
    fs.writeFileSync(authFile, JSON.stringify({ credsStore: "capsatest" }), { mode: 0o600 });
    oneLineError(a.capsa(["login", "-u", "carol", "--password-stdin", reg.host], { input: "wrong\n" }), /unauthorized: incorrect username or password/);
    assert.deepEqual(helper.calls(), []);
    assert.equal(ok(a.capsa(["login", "-u", "carol", "--password-stdin", reg.host], { input: "pa55\n" }), "login"), "Login Succeeded\n");
    assert.deepEqual(helper.calls(), [`store ${reg.host}`]);
    assert.deepEqual(JSON.parse(fs.readFileSync(authFile, "utf8")), { credsStore: "capsatest" });
    ok(a.capsa(["push", "busybox", `${reg.host}/helper/bb:1`]), "push");
    assert.ok(helper.calls().includes(`get ${reg.host}`));
    assert.equal(ok(a.capsa(["logout", reg.host]), "logout"), `Removing login credentials for ${reg.host}\n`);
    assert.equal(helper.calls().at(-1), `erase ${reg.host}`);
    assert.equal(fs.readdirSync(helper.storeDir).length, 0);
    assert.equal(ok(a.capsa(["logout", reg.host]), "logout again"), `Not logged in to ${reg.host}\n`);
    oneLineError(a.capsa(["push", "busybox", `${reg.host}/helper/bb:2`]), /unauthorized/);
  });

  void it("credHelpers in docker's config.json answer pulls; a missing helper is one clear line", () => {
    helper.put(reg.host, "carol", "pa55");
    const b = withHelper("helper-b");
    fs.writeFileSync(path.join(b.dockerConfig, "config.json"), JSON.stringify({ credHelpers: { [reg.host]: "capsatest" } }));
    ok(b.capsa(["pull", `${reg.host}/helper/bb:1`]), "pull through credHelpers");
    assert.equal(ok(b.capsa(["run", "--rm", `${reg.host}/helper/bb:1`, "echo", "helped"]), "run").trim(), "helped");

    const c = withHelper("helper-c");
    fs.writeFileSync(path.join(c.dockerConfig, "config.json"), JSON.stringify({ credsStore: "capsa-absent" }));
    oneLineError(c.capsa(["pull", `${reg.host}/helper/bb:1`]), /credential helper docker-credential-capsa-absent \(credsStore in .*config\.json\) is not installed: not found in PATH/);
    assert.deepEqual(d0(c.root), []);
  });
});
