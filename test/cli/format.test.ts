// docker's output formats: tabwriter widths, ps/images rows, sizes, durations, templates.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { displayablePorts, ellipsis, imageRows, PS_DEFAULT, PS_HEADERS, psContext, renderRows, resolveFormat, tabwrite, IMAGES_DEFAULT, IMAGES_HEADERS } from "../../src/cli/format.ts";
import { portLines, statsContext } from "../../src/cli/observe.ts";
import { dfRows } from "../../src/cli/system.ts";
import { renderTemplate, TemplateError } from "../../src/cli/template.ts";
import { binarySize, formatG, humanDuration, humanSize, parseRamBytes, rfc3339NanoUtc } from "../../src/cli/units.ts";
import { rebaseName, splitCpArg } from "../../src/cli/cp.ts";
import type { ContainerSummary } from "../../src/types/views.ts";
import type { ImageRecord } from "../../src/types/records.ts";

const NOW = Date.UTC(2024, 0, 1, 12, 0, 0);

function summary(over: Partial<ContainerSummary> = {}): ContainerSummary {
  return {
    Id: "331c7e6332520c3aa14a27bdb3ff3e0abbe8a34943a5e95fea6160fcf5675e8c",
    Names: ["/web"],
    Image: "busybox",
    ImageID: "sha256:" + "b".repeat(64),
    Command: "sleep 100",
    Created: NOW / 1000 - 120,
    Ports: [],
    Labels: {},
    State: "running",
    Status: "Up 2 minutes",
    HostConfig: { NetworkMode: "bridge" },
    Mounts: [],
    ...over,
  };
}

void describe("units (go-units and Go's time)", () => {
  void it("HumanSize: 3 significant digits, decimal units, as docker images shows", () => {
    assert.equal(humanSize(0), "0B");
    assert.equal(humanSize(999), "999B");
    assert.equal(humanSize(1000), "1kB");
    assert.equal(humanSize(2_138_112), "2.14MB");
    assert.equal(humanSize(4_194_304), "4.19MB");
    assert.equal(humanSize(77_800_000), "77.8MB");
    assert.equal(humanSize(1_234_567_890), "1.23GB");
    assert.equal(humanSize(999_999), "1e+03kB"); // Go's %.3g quirk, kept
  });
  void it("BytesSize (binary) for stats", () => {
    assert.equal(binarySize(0), "0B");
    assert.equal(binarySize(1536), "1.5KiB");
    assert.equal(binarySize(8 * 1024 ** 3), "8GiB");
    assert.equal(binarySize(123_456_789), "117.7MiB");
  });
  void it("Go %g formatting", () => {
    assert.equal(formatG(5, 3), "5");
    assert.equal(formatG(0.00001234, 3), "1.23e-05");
    assert.equal(formatG(12.5, 3), "12.5");
  });
  void it("HumanDuration thresholds", () => {
    const s = 1000;
    assert.equal(humanDuration(500), "Less than a second");
    assert.equal(humanDuration(1 * s), "1 second");
    assert.equal(humanDuration(59 * s), "59 seconds");
    assert.equal(humanDuration(60 * s), "About a minute");
    assert.equal(humanDuration(119 * s), "About a minute");
    assert.equal(humanDuration(120 * s), "2 minutes");
    assert.equal(humanDuration(59 * 60 * s), "59 minutes");
    assert.equal(humanDuration(60 * 60 * s), "About an hour");
    assert.equal(humanDuration(89 * 60 * s), "About an hour");
    assert.equal(humanDuration(2 * 3600 * s), "2 hours");
    assert.equal(humanDuration(47 * 3600 * s), "47 hours");
    assert.equal(humanDuration(48 * 3600 * s), "2 days");
    assert.equal(humanDuration(14 * 86400 * s), "2 weeks");
    assert.equal(humanDuration(60 * 86400 * s), "2 months");
    assert.equal(humanDuration(730 * 86400 * s), "2 years");
  });
  void it("RAMInBytes", () => {
    assert.equal(parseRamBytes("100"), 100);
    assert.equal(parseRamBytes("1k"), 1024);
    assert.equal(parseRamBytes("1KB"), 1024);
    assert.equal(parseRamBytes("2MiB"), 2 * 1024 * 1024);
    assert.equal(parseRamBytes("1.5g"), 1.5 * 1024 ** 3);
    assert.throws(() => parseRamBytes("-1"), /invalid size: '-1'/);
    assert.throws(() => parseRamBytes("1x"), /invalid size/);
  });
  void it("logs -t timestamps as Go's RFC3339Nano in UTC", () => {
    assert.equal(rfc3339NanoUtc("2026-11-26T15:25:37.485311500+00:00"), "2026-11-26T15:25:37.4853115Z");
    assert.equal(rfc3339NanoUtc("2024-01-01T10:00:00.000000000Z"), "2024-01-01T10:00:00Z");
    assert.equal(rfc3339NanoUtc("2024-01-01T12:00:00.5+02:00"), "2024-01-01T10:00:00.5Z");
  });
});

void describe("tabwriter (minwidth 10, padding 3, as docker's formatter)", () => {
  void it("pads every column but the last", () => {
    assert.equal(
      tabwrite("CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n"),
      "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n",
    );
    assert.equal(tabwrite("REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n"), "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n");
    assert.equal(tabwrite("a\tb\nlonger-than-ten\tc\n"), "a                 b\nlonger-than-ten   c\n");
  });
  void it("counts characters, not bytes (… is one)", () => {
    assert.equal(tabwrite("é…\tx\n", 1, 1), "é… x\n");
  });
});

void describe("ps", () => {
  void it("prints docker's table", () => {
    const rows = [
      psContext(summary(), { trunc: true, now: NOW }),
      psContext(
        summary({
          Id: "a".repeat(64),
          Names: ["/db"],
          Image: "docker.io/library/postgres:16",
          Command: "docker-entrypoint.sh postgres",
          State: "exited",
          Status: "Exited (0) 5 seconds ago",
          Created: NOW / 1000 - 7200,
          Ports: [{ IP: "0.0.0.0", PrivatePort: 5432, PublicPort: 15432, Type: "tcp" }],
        }),
        { trunc: true, now: NOW },
      ),
    ];
    assert.equal(
      renderRows(rows, undefined, PS_DEFAULT, PS_HEADERS),
      [
        "CONTAINER ID   IMAGE         COMMAND                  CREATED         STATUS                     PORTS                     NAMES",
        '331c7e633252   busybox       "sleep 100"              2 minutes ago   Up 2 minutes                                         web',
        'aaaaaaaaaaaa   postgres:16   "docker-entrypoint.s…"   2 hours ago     Exited (0) 5 seconds ago   0.0.0.0:15432->5432/tcp   db',
        "",
      ].join("\n"),
    );
  });
  void it("--no-trunc keeps the full id and command", () => {
    const c = psContext(summary({ Command: "a very long command line indeed" }), { trunc: false, now: NOW });
    assert.equal(c.ID?.length, 64);
    assert.equal(c.Command, '"a very long command line indeed"');
  });
  void it("json: one object per line with docker's field names", () => {
    const line = renderRows([psContext(summary({ Labels: { b: "2", a: "1" } }), { trunc: true, now: NOW })], "json", PS_DEFAULT, PS_HEADERS);
    const obj = JSON.parse(line) as Record<string, string>;
    assert.deepEqual(Object.keys(obj).sort(), ["Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names", "Networks", "Ports", "RunningFor", "Size", "State", "Status"]);
    assert.equal(obj.Labels, "a=1,b=2");
    assert.equal(obj.RunningFor, "2 minutes ago");
    assert.ok(line.endsWith("}\n"));
  });
  void it("templates: fields, .Label, table with custom columns", () => {
    const rows = [psContext(summary({ Labels: { tier: "web" } }), { trunc: true, now: NOW })];
    assert.equal(renderRows(rows, "{{.ID}} {{.Names}}", PS_DEFAULT, PS_HEADERS), "331c7e633252 web\n");
    assert.equal(renderRows(rows, '{{.Label "tier"}}|{{.Names | upper}}', PS_DEFAULT, PS_HEADERS), "web|WEB\n");
    assert.equal(renderRows(rows, "table {{.Names}}\\t{{.State}}", PS_DEFAULT, PS_HEADERS), "NAMES     STATE\nweb       running\n");
  });
  void it("ports: docker's DisplayablePorts grouping", () => {
    assert.equal(
      displayablePorts([
        { PrivatePort: 80, Type: "tcp" },
        { PrivatePort: 81, Type: "tcp" },
        { PrivatePort: 82, Type: "tcp" },
        { PrivatePort: 53, Type: "udp" },
        { IP: "0.0.0.0", PrivatePort: 8080, PublicPort: 8080, Type: "tcp" },
        { IP: "0.0.0.0", PrivatePort: 443, PublicPort: 8443, Type: "tcp" },
        { IP: "::", PrivatePort: 443, PublicPort: 8443, Type: "tcp" },
      ]),
      "53/udp, 80-82/tcp, 0.0.0.0:8080->8080/tcp, 0.0.0.0:8443->443/tcp, [::]:8443->443/tcp",
    );
  });
  void it("ellipsis", () => {
    assert.equal(ellipsis("0123456789abcdefghijXYZ", 20), "0123456789abcdefghi…");
    assert.equal(ellipsis("short", 20), "short");
  });
});

void describe("images", () => {
  const img = (over: Partial<ImageRecord>): ImageRecord => ({
    id: "sha256:34d1fb6f119407dd1968e095c8bd6fe897a89c4d4627c6e5789eb7b1e2facb0a",
    repoTags: ["docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"],
    repoDigests: [],
    manifestDigest: "",
    created: new Date(NOW - 3 * 86400_000).toISOString(),
    size: 2_138_112,
    config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } },
    ...over,
  });
  void it("one row per tag, <none> for untagged, docker's columns", () => {
    const rows = imageRows([img({}), img({ id: "sha256:" + "c".repeat(64), repoTags: [], created: new Date(NOW - 3600_000).toISOString() })], { trunc: true, now: NOW });
    assert.equal(
      renderRows(rows, undefined, IMAGES_DEFAULT, IMAGES_HEADERS),
      [
        "REPOSITORY   TAG       IMAGE ID       CREATED             SIZE",
        "<none>       <none>    cccccccccccc   About an hour ago   2.14MB",
        "busybox      latest    34d1fb6f1194   3 days ago          2.14MB",
        "busybox      1.36      34d1fb6f1194   3 days ago          2.14MB",
        "",
      ].join("\n"),
    );
    assert.equal(rows[1]?.Repository, "busybox");
  });
});

void describe("templates (Go text/template subset)", () => {
  const data = {
    State: { Status: "running", Pid: 42, Running: true },
    Config: { Labels: { a: "1", "b.c": "2" }, Env: ["A=1", "B=2"], Cmd: null },
    Name: "/web",
    Mounts: [{ Source: "/s" }, { Source: "/t" }],
    NetworkSettings: { Networks: { bridge: { IPAddress: "10.0.0.2" } } },
  };
  const cases: [string, string][] = [
    ["{{.State.Status}}", "running"],
    ["{{.State.Pid}}", "42"],
    ["{{.State.Running}}", "true"],
    ["{{json .Config.Labels}}", '{"a":"1","b.c":"2"}'],
    ['{{index .Config.Labels "b.c"}}', "2"],
    ["{{range .Mounts}}{{.Source}} {{end}}", "/s /t "],
    ["{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "10.0.0.2"],
    ['{{join .Config.Env ","}}', "A=1,B=2"],
    ["{{.Name | lower}}", "/web"],
    ['{{if eq .State.Status "running"}}up{{else if eq .State.Status "exited"}}down{{else}}?{{end}}', "up"],
    ["{{if not .State.Running}}stopped{{else}}running{{end}}", "running"],
    ["{{.Nope}}", "<no value>"],
    ["{{.Config.Cmd}}", "<nil>"],
    ["{{.Config.Env}}", "[A=1 B=2]"],
    ["{{.Config.Labels}}", "map[a:1 b.c:2]"],
    ["{{with .State}}{{.Pid}}{{end}}", "42"],
    ["{{len .Mounts}}", "2"],
    ["{{(index .Mounts 1).Source}}", "/t"],
    ["a {{- .Name -}} b", "a/webb"],
    ['{{printf "%s:%d" .Name .State.Pid}}', "/web:42"],
    ['{{split "a,b" ","}}', "[a b]"],
    ["{{title .State.Status}}", "Running"],
    ["{{println .Name}}", "/web\n"],
  ];
  for (const [t, want] of cases) {
    void it(t, () => assert.equal(renderTemplate(t, data), want));
  }
  void it("reports errors", () => {
    assert.throws(() => renderTemplate("{{.Name", data), TemplateError);
    assert.throws(() => renderTemplate("{{nofunc .Name}}", data), /function "nofunc" not defined/);
    assert.throws(() => renderTemplate("{{if .Name}}x", data), /unexpected EOF/);
  });
  void it("format resolution: table, json, raw, escapes", () => {
    assert.deepEqual(resolveFormat("table", "{{.A}}"), { kind: "table", template: "{{.A}}" });
    assert.deepEqual(resolveFormat("json", "{{.A}}"), { kind: "raw", template: "{{json .}}" });
    assert.deepEqual(resolveFormat("table {{.A}}\\t{{.B}}", ""), { kind: "table", template: "{{.A}}\t{{.B}}" });
    assert.deepEqual(resolveFormat("{{.A}}", ""), { kind: "raw", template: "{{.A}}" });
  });
});

void describe("other verbs' formatting", () => {
  void it("port lines", () => {
    const ports = { "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "8080" }, { HostIp: "::", HostPort: "8080" }], "53/udp": null };
    assert.deepEqual(portLines(ports), ["80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080"]);
    assert.deepEqual(portLines(ports, "80"), ["0.0.0.0:8080", "[::]:8080"]);
    assert.deepEqual(portLines(ports, "81/tcp"), []);
  });
  void it("stats row", () => {
    const row = statsContext(
      {
        read: "",
        preread: "",
        id: "a".repeat(64),
        name: "/web",
        pids_stats: { current: 3 },
        memory_stats: { usage: 10 * 1024 * 1024, limit: 100 * 1024 * 1024, stats: { inactive_file: 2 * 1024 * 1024 } },
        cpu_stats: { cpu_usage: { total_usage: 2e9 }, system_cpu_usage: 20e9, online_cpus: 2 },
        precpu_stats: { cpu_usage: { total_usage: 1e9 }, system_cpu_usage: 10e9, online_cpus: 2 },
        blkio_stats: { io_service_bytes_recursive: [{ major: 8, minor: 0, op: "Read", value: 4096 }] },
        networks: { eth0: { rx_bytes: 1500, rx_packets: 1, rx_errors: 0, rx_dropped: 0, tx_bytes: 0, tx_packets: 0, tx_errors: 0, tx_dropped: 0 } },
      },
      "web",
    );
    assert.deepEqual(row, {
      ID: "aaaaaaaaaaaa",
      Container: "web",
      Name: "web",
      CPUPerc: "20.00%",
      MemUsage: "8MiB / 100MiB",
      MemPerc: "8.00%",
      NetIO: "1.5kB / 0B",
      BlockIO: "4.1kB / 0B",
      PIDs: "3",
    });
  });
  void it("system df rows", () => {
    const rows = dfRows({
      LayersSize: 4_000_000,
      Images: [{ Id: "sha256:x", Size: 3_000_000, Containers: 1 }, { Id: "sha256:y", Size: 1_000_000, Containers: 0 }],
      Containers: [{ Id: "c1", State: "exited", SizeRw: 1000 }, { Id: "c2", State: "running", SizeRw: 0 }],
      Volumes: [{ Name: "v", UsageData: { Size: 2000, RefCount: 0 } }],
    });
    assert.deepEqual(rows[0], { Type: "Images", TotalCount: "2", Active: "1", Size: "4MB", Reclaimable: "1MB (25%)" });
    assert.deepEqual(rows[1], { Type: "Containers", TotalCount: "2", Active: "1", Size: "1kB", Reclaimable: "1kB (100%)" });
    assert.deepEqual(rows[2], { Type: "Local Volumes", TotalCount: "1", Active: "0", Size: "2kB", Reclaimable: "2kB (100%)" });
  });
  void it("cp argument splitting and archive rebasing", () => {
    assert.deepEqual(splitCpArg("web:/etc/hosts"), { container: "web", path: "/etc/hosts" });
    assert.deepEqual(splitCpArg("./a:b"), { path: "./a:b" });
    assert.deepEqual(splitCpArg("/abs"), { path: "/abs" });
    assert.deepEqual(splitCpArg("-"), { path: "-" });
    assert.equal(rebaseName("etc/", "etc", "conf"), "conf");
    assert.equal(rebaseName("etc/hosts", "etc", "conf"), "conf/hosts");
    assert.equal(rebaseName("etc/hosts", "etc", ""), "hosts");
    assert.equal(rebaseName("etc", "etc", ""), undefined);
  });
});
