// docker-compose 1.29 (Debian's docker-compose) against capsa system service:
// a two-service project on its own network with a named volume and env vars;
// the client reaches the web server by its service name.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { busyboxRootfsTar } from "../helpers.ts";
import { startService, type Service } from "./service.ts";

const COMPOSE = "/usr/bin/docker-compose";
const PROJECT = `version: "3.7"
services:
  web:
    image: bb:1
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && echo kept > /data/v && httpd -f -p 80 -h /www"]
    volumes: [data:/data]
    networks: [net]
  client:
    image: bb:1
    environment:
      TARGET: web
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://$$TARGET/index.html && break; sleep 0.5; done; sleep 300"]
    depends_on: [web]
    networks: [net]
volumes:
  data: {}
networks:
  net:
    ipam:
      config:
        - subnet: 10.213.93.0/24
`;

void describe("docker-compose against capsa system service", { skip: fs.existsSync(COMPOSE) ? false : "docker-compose is not installed (apt-get install docker-compose)" }, () => {
  let s: Service;
  let dir: string;
  before(async () => {
    s = await startService("apicompose");
    assert.equal(s.docker(["import", busyboxRootfsTar(), "bb:1"]).status, 0);
    dir = path.join(s.t.root, "project");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "docker-compose.yml"), PROJECT);
  });
  after(async () => {
    if (dir) compose(["down", "-v", "-t", "1"]);
    await s?.stop();
  });

  const compose = (args: string[]): ReturnType<typeof spawnSync> => spawnSync(COMPOSE, ["-p", "capsaapi", ...args], { cwd: dir, env: s.env, encoding: "utf8", timeout: 180_000 });

  void it("up -d, ps, logs, down -v", async () => {
    const up = compose(["up", "-d"]);
    assert.equal(up.status, 0, `${String(up.stderr)}\n${s.log().slice(-3000)}`);
    const ps = compose(["ps"]);
    assert.match(String(ps.stdout), /capsaapi_web_1 .* Up/);
    assert.match(String(ps.stdout), /capsaapi_client_1 .* Up/);
    let logs = "";
    for (let i = 0; i < 40 && !logs.includes("hello-from-web"); i++) {
      await new Promise((r) => setTimeout(r, 250));
      logs = String(compose(["logs", "--no-color", "client"]).stdout);
    }
    assert.match(logs, /hello-from-web/);
    assert.equal(String(s.docker(["volume", "ls", "--format", "{{.Name}}"]).stdout), "capsaapi_data\n");
    const down = compose(["down", "-v", "-t", "1"]);
    assert.equal(down.status, 0, String(down.stderr));
    assert.equal(String(s.docker(["ps", "-aq"]).stdout), "");
    assert.doesNotMatch(String(s.docker(["network", "ls", "--format", "{{.Name}}"]).stdout), /capsaapi_net/);
    assert.equal(String(s.docker(["volume", "ls", "-q"]).stdout), "");
  });
});
