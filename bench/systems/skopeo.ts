// skopeo alone, for the pull scenario: `skopeo copy docker://… oci:DIR` fetches
// and verifies the blobs and writes an OCI layout, without unpacking layers or
// keeping an image store. The transfer's floor; it runs no containers.
import fs from "node:fs";
import path from "node:path";
import { firstLine, which, type Cmd } from "../lib/proc.ts";
import { removeTree } from "../lib/fsutil.ts";
import { NoDetachedContainers, type BenchContext, type ContainerSystem, type SystemInfo } from "./system.ts";

export class Skopeo extends NoDetachedContainers implements ContainerSystem {
  readonly name = "skopeo";
  protected readonly why = "skopeo runs no containers";
  private dir = "";

  check(): string | undefined {
    return which("skopeo") ? undefined : "skopeo is not installed";
  }

  async setup(ctx: BenchContext): Promise<void> {
    this.dir = path.join(ctx.dir, this.name);
    fs.mkdirSync(this.dir, { recursive: true });
  }

  info(): SystemInfo {
    return { version: firstLine(["skopeo", "--version"]) ?? "?", runtime: "–", notes: ["copy to an OCI layout in the bench's directory: no unpacking, no image store"] };
  }

  private layout(ref: string): string {
    return path.join(this.dir, ref.replace(/[^A-Za-z0-9_.-]+/g, "_"));
  }

  pull(ref: string): Cmd {
    return { argv: ["skopeo", "copy", "-q", "--src-tls-verify=false", `docker://${ref}`, `oci:${this.layout(ref)}:latest`] };
  }

  async removeImage(ref: string): Promise<void> {
    fs.rmSync(this.layout(ref), { recursive: true, force: true });
  }

  runRm(): Cmd {
    throw new Error(this.why);
  }
  async cleanup(): Promise<void> {
    if (this.dir) removeTree(this.dir);
  }
}
