// A SOCK_SEQPACKET client for Bun: the part of node-unix-socket's
// SeqpacketSocket that attach.ts uses (connect, data/end/close/error, write,
// end, destroy). node-unix-socket's addon needs libuv's uv_poll, which Bun
// does not have. Here libc's socket, connect and shutdown are called through
// bun:ffi, and the descriptor, left blocking, is read and written with
// fs.read/fs.write, which run on the runtime's thread pool. One read returns
// one packet and one write sends one, so conmon's message boundaries hold.
import { EventEmitter } from "node:events";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const SHUT_WR = 1;
const SHUT_RDWR = 2;
/** Larger than any packet conmon sends (8 KiB): a read never truncates one. */
const READ_SIZE = 64 * 1024;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  shutdown(fd: number, how: number): number;
  errno(): number;
}

let libc: Libc | undefined;

/** Binds libc's calls (about a millisecond; attach.ts does it while the container is being created). */
export function loadLibc(): Libc {
  if (libc) return libc;
  interface Ffi {
    dlopen(lib: string, defs: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...a: unknown[]) => unknown> };
    read: { i32(ptr: unknown, offset: number): number };
  }
  const ffi = createRequire(import.meta.url)("bun:ffi") as Ffi;
  const { symbols: s } = ffi.dlopen("libc.so.6", {
    socket: { args: ["i32", "i32", "i32"], returns: "i32" },
    connect: { args: ["i32", "ptr", "u32"], returns: "i32" },
    shutdown: { args: ["i32", "i32"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
  });
  return (libc = {
    socket: (d, t, p) => s.socket!(d, t, p) as number,
    connect: (fd, addr, len) => s.connect!(fd, addr, len) as number,
    shutdown: (fd, how) => s.shutdown!(fd, how) as number,
    errno: () => ffi.read.i32(s.__errno_location!(), 0),
  });
}

function sysError(call: string, errno: number, target: string): NodeJS.ErrnoException {
  const code = Object.entries(os.constants.errno).find(([, n]) => n === errno)?.[0] ?? `E${errno}`;
  return Object.assign(new Error(`${call} ${code} ${target}`), { code, errno: -errno, syscall: call });
}

export class BunSeqpacketSocket extends EventEmitter {
  private fd = -1;
  private destroyed = false;
  /** Writes go out one after the other, and end() after them. */
  private writes: Promise<void> = Promise.resolve();

  /** Connects at once (a local socket); throws as node-unix-socket does when there is no server. */
  connect(socketPath: string, onConnect?: () => void): void {
    const c = loadLibc();
    const name = Buffer.from(socketPath);
    // struct sockaddr_un: sa_family_t (2 bytes), then the path, NUL-terminated (108 bytes in all).
    if (name.length >= 108) throw Object.assign(new Error(`connect ENAMETOOLONG ${socketPath}`), { code: "ENAMETOOLONG" });
    const addr = new Uint8Array(110);
    addr[0] = AF_UNIX;
    addr.set(name, 2);
    const fd = c.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) throw sysError("socket", c.errno(), socketPath);
    if (c.connect(fd, addr, 2 + name.length + 1) < 0) {
      const errno = c.errno();
      fs.closeSync(fd);
      throw sysError("connect", errno, socketPath);
    }
    this.fd = fd;
    queueMicrotask(() => {
      onConnect?.();
      this.emit("connect");
      this.readLoop();
    });
  }

  private readLoop(): void {
    const buf = Buffer.allocUnsafe(READ_SIZE);
    fs.read(this.fd, buf, 0, READ_SIZE, null, (err, n) => {
      if (this.destroyed) return this.close();
      if (err || n === 0) {
        this.destroyed = true;
        if (err) this.emit("error", err);
        else this.emit("end");
        return this.close();
      }
      this.emit("data", Buffer.from(buf.subarray(0, n)));
      this.readLoop();
    });
  }

  write(data: Buffer): void {
    const fd = this.fd;
    this.writes = this.writes.then(
      () =>
        new Promise<void>((resolve) => {
          if (this.destroyed) return resolve();
          fs.write(fd, data, (err) => {
            if (err && !this.destroyed) this.emit("error", err);
            resolve();
          });
        }),
    );
  }

  /** Half-closes: the peer reads end of file (conmon closes the container's stdin); reading goes on. */
  end(): void {
    this.writes = this.writes.then(() => {
      if (!this.destroyed) loadLibc().shutdown(this.fd, SHUT_WR);
    });
  }

  /** Stops both ways: the read always pending returns, and its callback closes the descriptor. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.fd >= 0) loadLibc().shutdown(this.fd, SHUT_RDWR);
  }

  /** After the writes under way: the number must not be reused while one may still use it. */
  private close(): void {
    const fd = this.fd;
    if (fd < 0) return;
    this.fd = -1;
    void this.writes.then(() => fs.close(fd, () => this.emit("close")));
  }
}
