/*
 * capsa-agent: PID 1 of a capsa micro-VM (after guest/init has loaded the
 * kernel modules). It runs one workload from an OCI image and extra processes
 * (exec) on the host's behalf. Everything crosses virtio-serial ports, found
 * by name in /sys/class/virtio-ports; docs/vm-protocol.md describes them.
 *
 *   capsa.ctl      host -> guest: 'R' run spec, 'S' signal;  guest -> host: 'A' ack
 *   capsa.stdin    the workload's stdin (host EOF = guest EOF)
 *   capsa.stdout   the workload's stdout (and its terminal, with tty)
 *   capsa.stderr   the workload's stderr
 *   capsa.status   "exit N\n" once the workload has ended, then power off
 *   capsa.exec.N   one exec session at a time per port, framed both ways
 *
 * Frames: 1 byte type, 4 bytes big-endian length, payload. A spec payload is
 * a list of NUL-terminated "key=value" entries (see parse_spec).
 *
 * Small on purpose: no allocation-heavy parsing, no threads, one poll loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <net/if.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define ROOT "/newroot"
#define MAX_FRAME (1u << 20)
#define MAX_EXEC 4 /* = EXEC_SLOTS in src/vm/shim/qemu.ts */
#define MAX_ENTRIES 4096
#define OUTBUF (256 * 1024)

extern char **environ;

/* The agent's own messages on the console, bounded (the host keeps the console in a file). */
#define MAX_LOG (64 * 1024)
static size_t logged;

static void logmsg(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  if (logged > MAX_LOG) return;
  logged += n + 13;
  int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) {
    (void)!write(fd, "capsa-agent: ", 13);
    (void)!write(fd, buf, n);
    close(fd);
  }
}

/* QEMU runs with -no-reboot: a reset ends it at once, sooner than ACPI's power-off sequence. */
static void power_off(void) {
  sync();
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}

static void die(const char *what) {
  logmsg("fatal: %s: %s", what, strerror(errno));
  power_off();
}

/* ---------- ports ---------- */

/* Opens the port named `name`, waiting up to `wait_ms` for it to appear. */
static int open_port(const char *name, int flags, int wait_ms) {
  for (int waited = 0;; waited += 10) {
    DIR *d = opendir("/sys/class/virtio-ports");
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[300], n[128];
        snprintf(p, sizeof p, "/sys/class/virtio-ports/%s/name", e->d_name);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t r = read(fd, n, sizeof n - 1);
        close(fd);
        if (r <= 0) continue;
        n[r] = 0;
        if (n[r - 1] == '\n') n[r - 1] = 0;
        if (strcmp(n, name) == 0) {
          snprintf(p, sizeof p, "/dev/%s", e->d_name);
          closedir(d);
          int pfd = open(p, flags | O_CLOEXEC | O_NOCTTY);
          if (pfd < 0) die(p);
          return pfd;
        }
      }
      closedir(d);
    }
    if (waited >= wait_ms) return -1;
    usleep(10000);
  }
}

/* ---------- frames ---------- */

struct reader {
  unsigned char hdr[5];
  size_t got;     /* bytes of header + payload received */
  uint32_t len;
  char *payload;
};

static void reader_reset(struct reader *r) {
  free(r->payload);
  memset(r, 0, sizeof *r);
}

/* Feeds bytes; returns 1 when a frame is complete (type in r->hdr[0]). */
static int reader_feed(struct reader *r, const unsigned char **p, size_t *n) {
  while (*n) {
    if (r->got < 5) {
      r->hdr[r->got++] = **p;
      (*p)++, (*n)--;
      if (r->got == 5) {
        r->len = ((uint32_t)r->hdr[1] << 24) | ((uint32_t)r->hdr[2] << 16) | ((uint32_t)r->hdr[3] << 8) | r->hdr[4];
        if (r->len > MAX_FRAME) r->len = MAX_FRAME;
        r->payload = calloc(1, r->len + 1);
        if (!r->payload) die("calloc");
        if (r->len == 0) return 1;
      }
      continue;
    }
    size_t want = r->len - (r->got - 5);
    size_t take = *n < want ? *n : want;
    memcpy(r->payload + (r->got - 5), *p, take);
    r->got += take, *p += take, *n -= take;
    if (r->got - 5 == r->len) return 1;
  }
  return 0;
}

/* Appends a frame to an output buffer; drops it when the buffer is full. */
struct outbuf {
  char *data;
  size_t len;
};

static int out_frame(struct outbuf *o, char type, const void *payload, uint32_t len) {
  if (!o->data) o->data = malloc(OUTBUF);
  if (!o->data || o->len + 5 + len > OUTBUF) return -1;
  unsigned char h[5] = {(unsigned char)type, len >> 24, len >> 16, len >> 8, len};
  memcpy(o->data + o->len, h, 5);
  memcpy(o->data + o->len + 5, payload, len);
  o->len += 5 + len;
  return 0;
}

/* Writes what it can without blocking; returns -1 when the host went away. */
static int out_flush(struct outbuf *o, int fd) {
  while (o->len) {
    ssize_t w = write(fd, o->data, o->len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -1;
    }
    memmove(o->data, o->data + w, o->len - w);
    o->len -= w;
  }
  return 0;
}

/* ---------- spec ---------- */

struct spec {
  char *args[MAX_ENTRIES];
  int nargs;
  char *env[MAX_ENTRIES];
  int nenv;
  const char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t gids[64];
  int ngids;
  const char *hostname;
  int tty;
  int detach;
  long pids;
  char *mounts[256];
  int nmounts;
  char *files[64];
  int nfiles;
  unsigned short rows, cols;
  /* confinement (docs/vm-protocol.md, "Confinement") */
  int has_caps;
  uint64_t caps[5]; /* bounding, effective, permitted, inheritable, ambient */
  int nnp;
  int readonly;
  int sys_rw;
  char *masks[64];
  int nmasks;
  char *ropaths[64];
  int nropaths;
  char *scdef;
  char *scbpf; /* the filter compiled on the host by this program's seccomp-bpf mode, in hex */
  char *sysctls[64]; /* key=value, from the spec's linux.sysctl */
  int nsysctls;
  char *scarch[8];
  int nscarch;
  char *sc[512];
  int nsc;
};

static void parse_spec(char *p, uint32_t len, struct spec *s) {
  memset(s, 0, sizeof *s);
  s->cwd = "/";
  s->pids = -1;
  char *end = p + len;
  while (p < end) {
    size_t l = strnlen(p, end - p);
    char *e = p;
    p += l + 1;
    char *v = strchr(e, '=');
    if (!v) continue;
    *v++ = 0;
    if (!strcmp(e, "arg") && s->nargs < MAX_ENTRIES - 1) s->args[s->nargs++] = v;
    else if (!strcmp(e, "env") && s->nenv < MAX_ENTRIES - 1) s->env[s->nenv++] = v;
    else if (!strcmp(e, "cwd")) s->cwd = v;
    else if (!strcmp(e, "uid")) s->uid = strtoul(v, 0, 10);
    else if (!strcmp(e, "gid")) s->gid = strtoul(v, 0, 10);
    else if (!strcmp(e, "gids")) {
      for (char *t = strtok(v, ","); t && s->ngids < 64; t = strtok(0, ",")) s->gids[s->ngids++] = strtoul(t, 0, 10);
    } else if (!strcmp(e, "hostname")) s->hostname = v;
    else if (!strcmp(e, "tty")) s->tty = atoi(v);
    else if (!strcmp(e, "detach")) s->detach = atoi(v);
    else if (!strcmp(e, "pids")) s->pids = atol(v);
    else if (!strcmp(e, "rows")) s->rows = atoi(v);
    else if (!strcmp(e, "cols")) s->cols = atoi(v);
    else if (!strcmp(e, "mount") && s->nmounts < 256) s->mounts[s->nmounts++] = v;
    else if (!strcmp(e, "file") && s->nfiles < 64) s->files[s->nfiles++] = v;
    else if (!strcmp(e, "caps")) {
      s->has_caps = 1;
      char *q = v;
      for (int i = 0; i < 5; i++) {
        s->caps[i] = strtoull(q, &q, 16);
        if (*q == ',') q++;
      }
    } else if (!strcmp(e, "nnp")) s->nnp = atoi(v);
    else if (!strcmp(e, "readonly")) s->readonly = atoi(v);
    else if (!strcmp(e, "sysrw")) s->sys_rw = atoi(v);
    else if (!strcmp(e, "mask") && s->nmasks < 64) s->masks[s->nmasks++] = v;
    else if (!strcmp(e, "ropath") && s->nropaths < 64) s->ropaths[s->nropaths++] = v;
    else if (!strcmp(e, "scdef")) s->scdef = v;
    else if (!strcmp(e, "scbpf")) s->scbpf = v;
    else if (!strcmp(e, "sysctl") && s->nsysctls < 64) s->sysctls[s->nsysctls++] = v;
    else if (!strcmp(e, "scarch") && s->nscarch < 8) s->scarch[s->nscarch++] = v;
    else if (!strcmp(e, "sc") && s->nsc < 512) s->sc[s->nsc++] = v;
  }
  s->args[s->nargs] = 0;
  s->env[s->nenv] = 0;
}

/* ---------- root file system ---------- */

static int mkdir_p(const char *path, mode_t mode) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *q = tmp + 1; *q; q++) {
    if (*q != '/') continue;
    *q = 0;
    if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
    *q = '/';
  }
  if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
  return 0;
}

static unsigned long mount_flags(char *csv, int *bind_ro) {
  unsigned long f = 0;
  *bind_ro = 0;
  for (char *t = strtok(csv, ","); t; t = strtok(0, ",")) {
    if (!strcmp(t, "ro")) f |= MS_RDONLY, *bind_ro = 1;
    else if (!strcmp(t, "nosuid")) f |= MS_NOSUID;
    else if (!strcmp(t, "nodev")) f |= MS_NODEV;
    else if (!strcmp(t, "noexec")) f |= MS_NOEXEC;
  }
  return f;
}

/* mount entry: type \x1f source \x1f target \x1f flags \x1f data */
static void do_mount(char *m) {
  char *fields[5] = {0};
  int i = 0;
  for (char *q = m; i < 5; i++) {
    fields[i] = q;
    q = strchr(q, '\x1f');
    if (!q) break;
    *q++ = 0;
  }
  if (!fields[2]) return;
  char target[4096];
  snprintf(target, sizeof target, ROOT "%s", fields[2]);
  int ro;
  /* nodev: see setup_dev */
  unsigned long flags = mount_flags(fields[3] ? fields[3] : (char[]){0}, &ro) | MS_NODEV;
  mkdir_p(target, 0755);
  if (mount(fields[1], target, fields[0], flags, fields[4] && *fields[4] ? fields[4] : NULL) < 0)
    logmsg("mount %s on %s: %s", fields[0], fields[2], strerror(errno));
}

/* file entry: path \x1f octal mode \x1f content */
static void do_file(char *f) {
  char *mode = strchr(f, '\x1f');
  if (!mode) return;
  *mode++ = 0;
  char *content = strchr(mode, '\x1f');
  if (!content) return;
  *content++ = 0;
  char path[4096];
  snprintf(path, sizeof path, ROOT "%s", f);
  char *slash = strrchr(path, '/');
  if (slash && slash != path) {
    *slash = 0;
    mkdir_p(path, 0755);
    *slash = '/';
  }
  unlink(path); /* a symlink in the image (e.g. /etc/resolv.conf) is replaced, not followed */
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, strtoul(mode, 0, 8));
  if (fd < 0) {
    logmsg("write %s: %s", f, strerror(errno));
    return;
  }
  (void)!write(fd, content, strlen(content));
  close(fd);
}

/* The pids limit of the whole guest workload, in a cgroup of its own (in the agent's mount namespace). */
static void setup_pids_cgroup(struct spec *s) {
  if (s->pids <= 0) return;
  mkdir_p("/sys/fs/cgroup", 0755);
  if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) < 0) return;
  int fd = open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY);
  if (fd >= 0) (void)!write(fd, "+pids", 5), close(fd);
  mkdir("/sys/fs/cgroup/workload", 0755);
  fd = open("/sys/fs/cgroup/workload/pids.max", O_WRONLY);
  if (fd >= 0) {
    char b[32];
    int n = snprintf(b, sizeof b, "%ld", s->pids);
    (void)!write(fd, b, n);
    close(fd);
  }
}

/*
 * /dev as a container has it: a small tmpfs, mounted nodev, with docker's
 * device nodes bind-mounted from the agent's devtmpfs. Every other file
 * system of the workload is nodev too, so a node it makes with CAP_MKNOD
 * (the disk, the virtio ports) cannot be opened: what the device cgroup
 * does for a container.
 */
static void setup_dev(void) {
  static const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  if (mount("tmpfs", ROOT "/dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k") < 0) logmsg("mount /dev: %s", strerror(errno));
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    char src[64], dst[128];
    snprintf(src, sizeof src, "/dev/%s", nodes[i]);
    snprintf(dst, sizeof dst, ROOT "/dev/%s", nodes[i]);
    int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) close(fd);
    if (mount(src, dst, NULL, MS_BIND, NULL) < 0) logmsg("bind %s: %s", src, strerror(errno));
  }
  static const char *links[][2] = {{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
                                   {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    char dst[128];
    snprintf(dst, sizeof dst, ROOT "/dev/%s", links[i][1]);
    (void)!symlink(links[i][0], dst);
  }
  mkdir(ROOT "/dev/pts", 0755);
  /* the agent's own devpts, so terminals it opens (run -t, exec -t) resolve inside the root too */
  if (mount("/dev/pts", ROOT "/dev/pts", NULL, MS_BIND, NULL) < 0) logmsg("bind /dev/pts: %s", strerror(errno));
  mkdir(ROOT "/dev/shm", 01777);
  if (mount("shm", ROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0) logmsg("mount /dev/shm: %s", strerror(errno));
  mkdir(ROOT "/dev/mqueue", 0755);
  (void)mount("mqueue", ROOT "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* The flags a mount has now (statvfs), so a remount keeps nosuid, nodev and noexec. */
static unsigned long flags_of(const char *path) {
  struct statvfs v;
  if (statvfs(path, &v) < 0) return 0;
  unsigned long f = 0;
  if (v.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (v.f_flag & ST_NODEV) f |= MS_NODEV;
  if (v.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (v.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

/* runc's maskPath and readonlyPath: /dev/null over a file, an empty read-only tmpfs over a directory. */
static void mask_path(const char *p) {
  struct stat st;
  if (stat(p, &st) < 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL) < 0) logmsg("mask %s: %s", p, strerror(errno));
  } else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) logmsg("mask %s: %s", p, strerror(errno));
}

static void readonly_path(const char *p) {
  if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno != ENOENT) logmsg("read-only %s: %s", p, strerror(errno));
    return;
  }
  if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | flags_of(p), NULL) < 0) logmsg("read-only %s: %s", p, strerror(errno));
}

/*
 * The workload's root, in its own mount namespace (the caller has unshared
 * it): the kernel's file systems, /dev, the spec's mounts and files, then
 * pivot_root into it and detach the agent's root, so nothing of the agent's
 * is left to climb back to (guest/init moved it off the initramfs, where
 * pivot_root does not work), then masked and read-only paths. Returns the
 * stage that failed, or NULL.
 */
static const char *setup_root(struct spec *s) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return "make-private";
  mkdir_p(ROOT "/proc", 0755);
  if (mount("proc", ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) return "mount-proc";
  mkdir_p(ROOT "/sys", 0755);
  if (mount("sysfs", ROOT "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | (s->sys_rw ? 0 : MS_RDONLY), NULL) < 0) return "mount-sys";
  mkdir_p(ROOT "/dev", 0755);
  setup_dev();
  for (int i = 0; i < s->nmounts; i++) do_mount(s->mounts[i]);
  for (int i = 0; i < s->nfiles; i++) do_file(s->files[i]);
  if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0) return "sethostname";
  if (chdir(ROOT) < 0) return "chdir-root";
  if (syscall(SYS_pivot_root, ".", ".") < 0) return "pivot_root";
  if (umount2(".", MNT_DETACH) < 0) return "umount-old-root";
  if (chdir("/") < 0) return "chdir-root";
  for (int i = 0; i < s->nmasks; i++) mask_path(s->masks[i]);
  for (int i = 0; i < s->nropaths; i++) readonly_path(s->ropaths[i]);
  if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_NODEV | (s->readonly ? MS_RDONLY : 0), NULL) < 0) return "remount-root";
  return NULL;
}

/* ---------- confinement ---------- */

/* The workload's seccomp filter, compiled to BPF once (with the run request) and loaded by every process the agent starts. */
static struct sock_fprog seccomp_prog;
/* The workload's namespaces, which exec sessions join (the pid namespace is the agent's pid_for_children). */
static int ns_mnt = -1, ns_uts = -1, ns_ipc = -1;

static int sc_action(const char *name, unsigned errno_ret, uint32_t *out) {
  if (!strcmp(name, "ALLOW")) *out = SCMP_ACT_ALLOW;
  else if (!strcmp(name, "ERRNO")) *out = SCMP_ACT_ERRNO(errno_ret);
  else if (!strcmp(name, "KILL") || !strcmp(name, "KILL_THREAD")) *out = SCMP_ACT_KILL;
  else if (!strcmp(name, "KILL_PROCESS")) *out = SCMP_ACT_KILL_PROCESS;
  else if (!strcmp(name, "TRAP")) *out = SCMP_ACT_TRAP;
  else if (!strcmp(name, "TRACE")) *out = SCMP_ACT_TRACE(errno_ret);
  else if (!strcmp(name, "LOG")) *out = SCMP_ACT_LOG;
  else return -1;
  return 0;
}

static int sc_op(const char *name, enum scmp_compare *out) {
  static const struct {
    const char *n;
    enum scmp_compare op;
  } ops[] = {{"NE", SCMP_CMP_NE}, {"LT", SCMP_CMP_LT}, {"LE", SCMP_CMP_LE}, {"EQ", SCMP_CMP_EQ}, {"GE", SCMP_CMP_GE}, {"GT", SCMP_CMP_GT}, {"MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(name, ops[i].n)) return *out = ops[i].op, 0;
  return -1;
}

/* Compiles the spec's seccomp section (src/vm/shim/guest-spec.ts seccompEntries) as runc does; 0 or -1 with msg. */
static int build_seccomp(struct spec *s, char *msg, size_t msglen) {
  if (!s->scdef) return 0;
  char act[32];
  unsigned eno = 1;
  uint32_t def;
  if (sscanf(s->scdef, "%31s %u", act, &eno) < 1 || sc_action(act, eno, &def) < 0) {
    snprintf(msg, msglen, "seccomp: unsupported default action %s", s->scdef);
    return -1;
  }
  scmp_filter_ctx ctx = seccomp_init(def);
  if (!ctx) return snprintf(msg, msglen, "seccomp: init failed"), -1;
  /* no_new_privs is the spec's to set (process.noNewPrivileges), not libseccomp's */
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  for (int i = 0; i < s->nscarch; i++) {
    char lower[32];
    size_t j = 0;
    for (; s->scarch[i][j] && j < sizeof lower - 1; j++) lower[j] = (char)(s->scarch[i][j] | 0x20);
    lower[j] = 0;
    uint32_t a = seccomp_arch_resolve_name(lower);
    if (a) seccomp_arch_add(ctx, a); /* the native one is there already (EEXIST) */
  }
  for (int i = 0; i < s->nsc; i++) {
    char line[4096];
    snprintf(line, sizeof line, "%s", s->sc[i]);
    char *save = NULL, *an = strtok_r(line, " ", &save), *en = strtok_r(NULL, " ", &save), *names = strtok_r(NULL, " ", &save);
    if (!an || !en || !names) continue;
    uint32_t action;
    if (sc_action(an, strtoul(en, 0, 10), &action) < 0) {
      snprintf(msg, msglen, "seccomp: unsupported action %s", an);
      seccomp_release(ctx);
      return -1;
    }
    if (action == def) continue; /* libseccomp refuses a rule that repeats the default */
    struct scmp_arg_cmp cmp[6];
    int nc = 0, same_index = 0;
    for (char *a; (a = strtok_r(NULL, " ", &save)) && nc < 6;) {
      char opn[16];
      unsigned idx;
      unsigned long long v1, v2;
      if (sscanf(a, "%u:%15[A-Z_]:%llu:%llu", &idx, opn, &v1, &v2) != 4 || idx > 5 || sc_op(opn, &cmp[nc].op) < 0) {
        snprintf(msg, msglen, "seccomp: bad argument condition %s", a);
        seccomp_release(ctx);
        return -1;
      }
      cmp[nc].arg = idx, cmp[nc].datum_a = v1, cmp[nc].datum_b = v2;
      for (int k = 0; k < nc; k++) same_index |= cmp[k].arg == idx;
      nc++;
    }
    char *nsave = NULL;
    for (char *n = strtok_r(names, ",", &nsave); n; n = strtok_r(NULL, ",", &nsave)) {
      int nr = seccomp_syscall_resolve_name(n);
      if (nr == __NR_SCMP_ERROR) continue; /* a syscall this kernel's libseccomp does not know */
      int rc = 0;
      /* conditions on one argument are alternatives (runc adds them as separate rules) */
      if (same_index)
        for (int k = 0; k < nc && rc == 0; k++) rc = seccomp_rule_add_array(ctx, action, nr, 1, &cmp[k]);
      else rc = seccomp_rule_add_array(ctx, action, nr, nc, cmp);
      if (rc < 0) {
        snprintf(msg, msglen, "seccomp: rule for %s: %s", n, strerror(-rc));
        seccomp_release(ctx);
        return -1;
      }
    }
  }
  /* the BPF program, generated once: libseccomp would generate it again in every process (slow under TCG) */
  int fd = memfd_create("seccomp", MFD_CLOEXEC);
  off_t size;
  if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0 || (size = lseek(fd, 0, SEEK_END)) <= 0 || size % sizeof(struct sock_filter)) {
    snprintf(msg, msglen, "seccomp: cannot generate the filter");
    seccomp_release(ctx);
    if (fd >= 0) close(fd);
    return -1;
  }
  struct sock_filter *f = malloc(size);
  if (!f || pread(fd, f, size, 0) != size) die("seccomp: read filter");
  close(fd);
  seccomp_release(ctx);
  seccomp_prog.len = (unsigned short)(size / sizeof(struct sock_filter));
  seccomp_prog.filter = f;
  return 0;
}

/* A filter compiled on the host (hex of struct sock_filter[]): compiling it here costs ~0.3 s under TCG. */
static int take_seccomp_bpf(const char *hex, char *msg, size_t msglen) {
  size_t n = strlen(hex) / 2;
  if (!n || n % sizeof(struct sock_filter) || n / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    snprintf(msg, msglen, "seccomp: a compiled filter of %zu bytes", n);
    return -1;
  }
  unsigned char *b = malloc(n);
  if (!b) die("malloc");
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
      snprintf(msg, msglen, "seccomp: the compiled filter is not hex");
      free(b);
      return -1;
    }
    b[i] = (unsigned char)v;
  }
  seccomp_prog.len = (unsigned short)(n / sizeof(struct sock_filter));
  seccomp_prog.filter = (struct sock_filter *)b;
  return 0;
}

static int load_seccomp(void) {
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &seccomp_prog, 0, 0);
}

static int set_caps(uint64_t eff, uint64_t perm, uint64_t inh) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2] = {
      {.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
      {.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32)},
  };
  return (int)syscall(SYS_capset, &h, d);
}

/*
 * The process's identity and privileges, in runc's order: seccomp first when
 * no_new_privs is off (loading it then needs CAP_SYS_ADMIN, which is still
 * there), the bounding set, the user and groups (keeping the permitted set
 * across setuid), the other sets, no_new_privs, then seccomp when it is on.
 * Returns the stage that failed, or NULL.
 */
static const char *confine(struct spec *s) {
  if (seccomp_prog.filter && !s->nnp && load_seccomp() < 0) return "seccomp";
  if (s->has_caps) {
    for (int c = 0; c < 64; c++)
      if (!(s->caps[0] >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
        if (errno == EINVAL) break; /* past the kernel's last capability */
        return "capbset";
      }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return "keepcaps";
  }
  if (setgroups(s->ngids, s->gids) < 0) return "setgroups";
  if (setgid(s->gid) < 0) return "setgid";
  if (setuid(s->uid) < 0) return "setuid";
  if (s->has_caps) {
    if (set_caps(s->caps[1], s->caps[2], s->caps[3]) < 0) return "capset";
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return "ambient";
    for (int c = 0; c < 64; c++)
      if ((s->caps[4] >> c & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) return "ambient";
  }
  if (s->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return "no_new_privs";
  if (seccomp_prog.filter && s->nnp && load_seccomp() < 0) return "seccomp";
  return NULL;
}

/* ---------- processes ---------- */

static void join_workload_cgroup(void) {
  int fd = open("/sys/fs/cgroup/workload/cgroup.procs", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) (void)!write(fd, "0", 1), close(fd);
}

/*
 * Starts a process: the workload (is_workload: in new mount, UTS and IPC
 * namespaces and the pid namespace the agent unshared for its children, in
 * the root setup_root makes), or an exec session, which joins the workload's
 * namespaces. fds[0..2] become its stdio (or, with s->tty, a fresh terminal
 * whose master is returned in *master). Both are confined as the spec says.
 * Returns the pid, or -1 with *err set to a docker-like exit code and msg.
 */
static pid_t spawn_process(struct spec *s, int is_workload, int fds[3], int *master, int *err, char *msg, size_t msglen) {
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) die("pipe");
  int m = -1, sl = -1;
  if (s->tty) {
    struct winsize ws = {.ws_row = s->rows ? s->rows : 24, .ws_col = s->cols ? s->cols : 80};
    if (openpty(&m, &sl, NULL, NULL, &ws) < 0) {
      *err = 126;
      snprintf(msg, msglen, "openpty: %s", strerror(errno));
      close(ep[0]), close(ep[1]);
      return -1;
    }
    fcntl(m, F_SETFD, FD_CLOEXEC);
  }
  pid_t pid = fork();
  if (pid < 0) {
    *err = 126;
    snprintf(msg, msglen, "fork: %s", strerror(errno));
    close(ep[0]), close(ep[1]);
    if (m >= 0) close(m), close(sl);
    return -1;
  }
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int i = 1; i < NSIG; i++) signal(i, SIG_DFL);
    join_workload_cgroup();
    const char *stage = NULL;
    int e = 0;
    if (is_workload) {
      if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC) < 0) stage = "unshare";
      else stage = setup_root(s);
    } else if (setns(ns_mnt, CLONE_NEWNS) < 0 || setns(ns_uts, CLONE_NEWUTS) < 0 || setns(ns_ipc, CLONE_NEWIPC) < 0) {
      stage = "setns";
    }
    if (stage) goto fail;
    setsid();
    if (s->tty) {
      ioctl(sl, TIOCSCTTY, 0);
      dup2(sl, 0), dup2(sl, 1), dup2(sl, 2);
      if (sl > 2) close(sl);
    } else {
      int in = fds[0] >= 0 ? fds[0] : open("/dev/null", O_RDONLY);
      int a = dup(in), b = dup(fds[1]), c = dup(fds[2]);
      dup2(a, 0), dup2(b, 1), dup2(c, 2);
      for (int i = 0; i < 3; i++) fcntl(i, F_SETFD, 0);
    }
    stage = "chdir";
    if (chdir(s->cwd) < 0) goto fail;
    stage = confine(s);
    if (stage) goto fail;
    environ = s->env;
    stage = "exec";
    execvp(s->args[0], s->args);
  fail:
    e = errno;
    char b[600];
    int code = (stage[0] == 'e' && (e == ENOENT || e == ENOTDIR)) ? 127 : 126;
    if (code == 127 && strchr(s->args[0], '/') == NULL)
      snprintf(b, sizeof b, "%d exec: \"%s\": executable file not found in $PATH: starting container process", code, s->args[0]);
    else if (!strcmp(stage, "exec"))
      snprintf(b, sizeof b, "%d exec %s: %s: starting container process", code, s->args[0], strerror(e));
    else
      snprintf(b, sizeof b, "126 %s %s: %s: starting container process", stage, !strcmp(stage, "chdir") ? s->cwd : "", strerror(e));
    (void)!write(ep[1], b, strlen(b));
    _exit(code);
  }
  close(ep[1]);
  if (sl >= 0) close(sl);
  char b[600];
  ssize_t r;
  do r = read(ep[0], b, sizeof b - 1);
  while (r < 0 && errno == EINTR);
  close(ep[0]);
  if (r > 0) {
    b[r] = 0;
    *err = atoi(b);
    snprintf(msg, msglen, "%s", strchr(b, ' ') ? strchr(b, ' ') + 1 : b);
    waitpid(pid, NULL, 0);
    if (m >= 0) close(m);
    return -1;
  }
  if (master) *master = m;
  return pid;
}

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

/* ---------- state ---------- */

static int ctl_fd = -1, stdin_fd = -1, stdout_fd = -1, stderr_fd = -1, status_fd = -1;
static int ctl_hup;
/* When ports left out of poll for hanging up (ctl_hup, session hup/quiet) are looked at again; 0: none are */
static long long hup_until;

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A port that reports POLLHUP without end is left out of poll for 50 ms; all such ports share one deadline,
 * so they cannot take turns waking poll up (which spun the agent at full CPU while the VM idled). */
static void back_off(int *flag) {
  *flag = 1;
  if (!hup_until) hup_until = now_ms() + 50;
}
static struct reader ctl_rd;
static struct outbuf ctl_out;
static pid_t workload = 0;
static int root_ready;
/* workload with a terminal: relay stdin port -> master -> stdout port */
static int wl_master = -1;
static char tty_buf[65536];
static size_t tty_len;
static int stdin_eof;

struct session {
  int port;       /* capsa.exec.N */
  int hup;
  int quiet; /* the port says "hung up" but has nothing to read: left out of one poll round */
  struct reader rd;
  struct outbuf out;
  pid_t pid;      /* >0 while the process runs */
  int status;     /* exit status once reaped */
  int reaped;
  int in_w;       /* pipe to its stdin (or the terminal master) */
  int out_r, err_r;
  int tty;
  int pending_exit; /* process ended: send 'Q' once its output is drained */
  int aborted;      /* the host went away: reap quietly */
};
static struct session sessions[MAX_EXEC];
static int nsessions;

/* Opens the exec ports not open yet; returns how many are still missing. */
static int scan_exec_ports(void) {
  int missing = 0;
  for (int i = 0; i < MAX_EXEC; i++) {
    if (sessions[i].port >= 0) continue;
    char name[32];
    snprintf(name, sizeof name, "capsa.exec.%d", i);
    sessions[i].port = open_port(name, O_RDWR | O_NONBLOCK, 0);
    if (sessions[i].port < 0) missing++;
  }
  return missing;
}

static void ack(struct outbuf *o, int port, const char *text) {
  out_frame(o, 'A', text, strlen(text));
  out_flush(o, port);
}

static int open_ns(pid_t pid, const char *name) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/ns/%s", pid, name);
  return open(p, O_RDONLY | O_CLOEXEC);
}

/* The spec's sysctls (e.g. net.ipv4.ping_group_range, so ping works without CAP_NET_RAW), for the whole guest. */
static void apply_sysctls(struct spec *s) {
  for (int i = 0; i < s->nsysctls; i++) {
    char *eq = strchr(s->sysctls[i], '=');
    if (!eq || eq == s->sysctls[i] || strstr(s->sysctls[i], "..")) continue;
    char p[300];
    int n = snprintf(p, sizeof p, "/proc/sys/%.*s", (int)(eq - s->sysctls[i]), s->sysctls[i]);
    for (int j = 10; j < n; j++)
      if (p[j] == '.') p[j] = '/';
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, eq + 1, strlen(eq + 1)) < 0) logmsg("sysctl %s: %s", s->sysctls[i], strerror(errno));
    if (fd >= 0) close(fd);
  }
}

static void start_workload(struct spec *s) {
  setup_pids_cgroup(s);
  apply_sysctls(s);
  int fds[3] = {stdin_fd, stdout_fd, stderr_fd};
  int err = 0;
  char msg[600];
  pid_t pid = -1;
  if ((s->scbpf ? take_seccomp_bpf(s->scbpf, msg, sizeof msg) : build_seccomp(s, msg, sizeof msg)) < 0) err = 126;
  /* the workload is PID 1 of a pid namespace of its own; exec sessions, later children of the agent, go there too */
  else if (unshare(CLONE_NEWPID) < 0) err = 126, snprintf(msg, sizeof msg, "unshare pid namespace: %s", strerror(errno));
  else pid = spawn_process(s, 1, fds, s->tty ? &wl_master : NULL, &err, msg, sizeof msg);
  if (pid > 0) {
    /* spawn_process returned once the workload exec'd: its namespaces are complete */
    ns_mnt = open_ns(pid, "mnt"), ns_uts = open_ns(pid, "uts"), ns_ipc = open_ns(pid, "ipc");
    root_ready = ns_mnt >= 0 && ns_uts >= 0 && ns_ipc >= 0;
  }
  if (pid < 0) {
    char b[700];
    snprintf(b, sizeof b, "E%d %s", err, msg);
    ack(&ctl_out, ctl_fd, b);
    /* the workload could not start: report its code as the exit status and stop */
    char st[32];
    int n = snprintf(st, sizeof st, "exit %d\n", err);
    (void)!write(status_fd, st, n);
    power_off();
  }
  workload = pid;
  if (wl_master >= 0) fcntl(wl_master, F_SETFL, O_NONBLOCK);
  ack(&ctl_out, ctl_fd, "ok");
}

static void session_close_io(struct session *x) {
  if (x->in_w >= 0) close(x->in_w);
  if (x->out_r >= 0) close(x->out_r);
  if (x->err_r >= 0 && x->err_r != x->out_r) close(x->err_r);
  x->in_w = x->out_r = x->err_r = -1;
}

static void start_exec(struct session *x, struct spec *s) {
  if (!root_ready) {
    ack(&x->out, x->port, "E125 the workload has not started");
    return;
  }
  int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
  int fds[3];
  if (s->detach) {
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    fds[0] = fds[1] = fds[2] = nul;
    s->tty = 0;
    int err = 0;
    char msg[600];
    pid_t pid = spawn_process(s, 0, fds, NULL, &err, msg, sizeof msg);
    close(nul);
    char b[700];
    if (pid < 0) snprintf(b, sizeof b, "E%d %s", err, msg);
    else snprintf(b, sizeof b, "ok");
    ack(&x->out, x->port, b);
    if (pid > 0) out_frame(&x->out, 'Q', "0", 1), out_flush(&x->out, x->port);
    return;
  }
  if (!s->tty) {
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) die("pipe");
  }
  fds[0] = in[0], fds[1] = out[1], fds[2] = er[1];
  int err = 0, master = -1;
  char msg[600];
  pid_t pid = spawn_process(s, 0, fds, s->tty ? &master : NULL, &err, msg, sizeof msg);
  if (!s->tty) close(in[0]), close(out[1]), close(er[1]);
  if (pid < 0) {
    char b[700];
    snprintf(b, sizeof b, "E%d %s", err, msg);
    if (!s->tty) close(in[1]), close(out[0]), close(er[0]);
    ack(&x->out, x->port, b);
    return;
  }
  x->pid = pid;
  x->reaped = 0;
  x->pending_exit = 0;
  x->tty = s->tty;
  if (s->tty) {
    x->in_w = x->out_r = master;
    x->err_r = -1;
    fcntl(master, F_SETFL, O_NONBLOCK);
  } else {
    x->in_w = in[1], x->out_r = out[0], x->err_r = er[0];
    fcntl(x->in_w, F_SETFL, O_NONBLOCK);
  }
  ack(&x->out, x->port, "ok");
}

static void handle_frame(struct reader *r, struct session *x) {
  char type = r->hdr[0];
  if (type == 'R' && !x && !workload) {
    static struct spec s; /* the workload's spec lives as long as the VM */
    static char *keep;
    keep = r->payload;
    r->payload = NULL;
    parse_spec(keep, r->len, &s);
    start_workload(&s);
  } else if (type == 'X' && x && x->pid == 0) {
    struct spec s;
    parse_spec(r->payload, r->len, &s);
    start_exec(x, &s);
  } else if (type == 'S') {
    int sig = atoi(r->payload);
    pid_t target = x ? x->pid : workload;
    if (target > 0 && sig > 0 && sig < NSIG) kill(target, sig);
  } else if (type == 'I' && x && x->in_w >= 0) {
    /* best effort: the host sends small chunks and waits for the pipe to drain */
    size_t off = 0;
    while (off < r->len) {
      ssize_t w = write(x->in_w, r->payload + off, r->len - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          struct pollfd p = {.fd = x->in_w, .events = POLLOUT};
          poll(&p, 1, 1000);
          continue;
        }
        break;
      }
      off += w;
    }
  } else if (type == 'E' && x && x->in_w >= 0 && !x->tty) {
    close(x->in_w);
    x->in_w = -1;
  } else if (type == 'W' && x && x->tty && x->out_r >= 0) {
    unsigned rows = 0, cols = 0;
    if (sscanf(r->payload, "%u %u", &rows, &cols) == 2) {
      struct winsize ws = {.ws_row = rows, .ws_col = cols};
      ioctl(x->out_r, TIOCSWINSZ, &ws);
    }
  }
}

/* Reads a port; returns -1 when the host side went away. */
/* 1: data handled; 0: nothing to read now; -1: the host went away (EOF) or an error */
static int read_port(int fd, struct reader *rd, struct session *x) {
  unsigned char buf[65536];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
  if (n == 0) return -1;
  const unsigned char *p = buf;
  size_t left = n;
  while (left) {
    if (reader_feed(rd, &p, &left)) {
      handle_frame(rd, x);
      reader_reset(rd);
    }
  }
  return 1;
}

static void session_abort(struct session *x) {
  if (x->pid > 0 && !x->reaped) kill(-x->pid, SIGKILL), kill(x->pid, SIGKILL);
  session_close_io(x);
  reader_reset(&x->rd);
  x->out.len = 0;
  x->pending_exit = 0;
  if (x->pid > 0) x->aborted = 1; /* x->pid is cleared when reaped */
}

static void pump_output(struct session *x, int fd, char type) {
  char buf[32768];
  size_t room = OUTBUF - x->out.len;
  if (room <= 5 + 1) return;
  size_t want = room - 5 < sizeof buf ? room - 5 : sizeof buf;
  ssize_t n = read(fd, buf, want);
  if (n > 0) {
    out_frame(&x->out, type, buf, n);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  /* EOF (or EIO on a terminal whose process ended) */
  if (fd == x->out_r) {
    if (x->in_w == x->out_r) x->in_w = -1;
    close(x->out_r);
    x->out_r = -1;
  } else {
    close(x->err_r);
    x->err_r = -1;
  }
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == workload) {
      int code = exit_code(status);
      /* drain what the terminal still holds */
      if (wl_master >= 0) {
        char b[65536];
        ssize_t n;
        while ((n = read(wl_master, b, sizeof b)) > 0) (void)!write(stdout_fd, b, n);
      }
      char st[32];
      int n = snprintf(st, sizeof st, "exit %d\n", code);
      (void)!write(status_fd, st, n);
      kill(-1, SIGKILL);
      sync();
      umount2(ROOT, MNT_DETACH);
      power_off();
    }
    for (int i = 0; i < nsessions; i++) {
      struct session *x = &sessions[i];
      if (x->pid != pid) continue;
      x->status = status;
      x->reaped = 1;
      if (x->aborted) x->pid = 0, x->aborted = 0;
      else x->pending_exit = 1;
    }
  }
}

/* ---------- boot: guest/init's first step ---------- */

static int boot_fail(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return 1;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) {
    (void)!write(fd, "capsa-init: ", 12);
    (void)!write(fd, buf, n);
    close(fd);
  }
  return 1;
}

/* " 0x0002 0x0003 …": the ids of the virtio devices the VM has (virtio_mmio has found them). */
static void virtio_devices(char *out, size_t len) {
  snprintf(out, len, " ");
  DIR *d = opendir("/sys/bus/virtio/devices");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[300], id[32];
    snprintf(p, sizeof p, "/sys/bus/virtio/devices/%s/device", e->d_name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t r = read(fd, id, sizeof id - 1);
    close(fd);
    if (r <= 0) continue;
    id[r] = 0;
    id[strcspn(id, "\n")] = 0;
    size_t used = strlen(out);
    snprintf(out + used, len - used, "%s ", id);
  }
  closedir(d);
}

/*
 * `capsa-agent boot`, run by guest/init before anything else: mounts /proc,
 * /sys and /dev, loads the kernel modules in /lib/modules/load-order (a line
 * is a module, then the virtio device ids it is for, if any: such a module
 * is loaded only when the VM has one of those devices) and brings up lo.
 * One process for what took a busybox per step (each a fork and exec of a
 * 2 MB static binary: ~10 ms under TCG). On failure it says why on the
 * console ("capsa-init: …") and exits 1.
 */
static int boot(void) {
  static const struct {
    const char *type, *dst;
  } fs[] = {{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"}};
  for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
    if (mount(fs[i].type, fs[i].dst, fs[i].type, 0, NULL) < 0 && errno != EBUSY)
      return boot_fail("cannot mount %s on %s: %s", fs[i].type, fs[i].dst, strerror(errno));
  FILE *f = fopen("/lib/modules/load-order", "re");
  if (f) {
    char line[512], present[1024] = "";
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\n")] = 0;
      char *save = NULL, *m = strtok_r(line, " ", &save);
      if (!m) continue;
      char *id = strtok_r(NULL, " ", &save);
      if (id) {
        if (!present[0]) virtio_devices(present, sizeof present);
        int want = 0;
        for (; id && !want; id = strtok_r(NULL, " ", &save)) {
          char pat[40];
          snprintf(pat, sizeof pat, " %s ", id);
          want = strstr(present, pat) != NULL;
        }
        if (!want) continue;
      }
      char path[600];
      snprintf(path, sizeof path, "/lib/modules/%s.ko", m);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)) {
        int e = errno;
        fclose(f);
        return boot_fail("cannot load kernel module %s: %s", m, strerror(e));
      }
      close(fd);
    }
    fclose(f);
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq r;
  memset(&r, 0, sizeof r);
  snprintf(r.ifr_name, sizeof r.ifr_name, "lo");
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &r) < 0 || (r.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &r) < 0))
    return boot_fail("cannot bring up lo: %s", strerror(errno));
  close(s);
  return 0;
}

/*
 * `capsa-agent seccomp-bpf`, run on the host (the same static binary, from
 * the VM assets): reads the seccomp entries of a process spec on stdin and
 * writes the BPF program libseccomp makes of them to stdout, which the host
 * sends to the guest as scbpf=.
 */
static int seccomp_bpf_mode(void) {
  static char buf[1 << 20];
  size_t len = 0;
  ssize_t r;
  while (len < sizeof buf && (r = read(0, buf + len, sizeof buf - len)) > 0) len += r;
  static struct spec s;
  parse_spec(buf, len, &s);
  char msg[600];
  if (!s.scdef || build_seccomp(&s, msg, sizeof msg) < 0) {
    fprintf(stderr, "capsa-agent seccomp-bpf: %s\n", s.scdef ? msg : "no seccomp section");
    return 1;
  }
  size_t size = seccomp_prog.len * sizeof(struct sock_filter);
  return fwrite(seccomp_prog.filter, 1, size, stdout) == size && fflush(stdout) == 0 ? 0 : 1;
}

/* Deletes what is on the file system of dirfd (device dev), not crossing into other mounts: busybox switch_root's delete_contents. */
static void delete_contents(int dirfd, dev_t dev) {
  DIR *d = fdopendir(dirfd);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    struct stat st;
    if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev) continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (sub >= 0) delete_contents(sub, dev);
      unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
    } else unlinkat(dirfd, e->d_name, 0);
  }
  closedir(d);
}

/*
 * The initramfs is the kernel's rootfs, which pivot_root cannot leave (it has
 * no parent mount), and a workload confined by chroot alone climbs back out
 * to it. So the agent, PID 1, moves itself into a tmpfs: /proc, /sys and /dev
 * go with it, the initramfs is emptied (nothing of it is needed any more: the
 * modules are loaded and this program is in memory), and the tmpfs becomes
 * the root. Each workload then pivot_roots into its image and detaches this
 * root; walking ".." from the image ends at the empty rootfs.
 */
static void leave_initramfs(void) {
  struct stat st;
  if (stat("/", &st) < 0) die("stat /");
  if (mkdir("/.root", 0755) < 0 && errno != EEXIST) die("mkdir /.root");
  if (mount("capsa-root", "/.root", "tmpfs", 0, "mode=0755") < 0) die("mount the agent's root");
  static const char *moved[] = {"/proc", "/sys", "/dev"};
  for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++) {
    char to[32];
    snprintf(to, sizeof to, "/.root%s", moved[i]);
    if (mkdir(to, 0755) < 0 || mount(moved[i], to, NULL, MS_MOVE, NULL) < 0) die(moved[i]);
  }
  int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die("open /");
  delete_contents(fd, st.st_dev);
  if (chdir("/.root") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0) die("switch to the agent's root");
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "boot") == 0) return boot();
  if (argc > 1 && strcmp(argv[1], "seccomp-bpf") == 0) return seccomp_bpf_mode();

  /* PID 1 gets no default signal handling; block the ones we read via signalfd */
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");
  signal(SIGPIPE, SIG_IGN);

  leave_initramfs();

  /* terminals for -t come from the agent's own devpts (openpty) */
  mkdir_p("/dev/pts", 0755);
  if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620") < 0 && errno != EBUSY) logmsg("devpts: %s", strerror(errno));

  /* the image's root file system, on the first virtio disk */
  mkdir_p(ROOT, 0755);
  if (mount("/dev/vda", ROOT, "ext4", 0, "noinit_itable") < 0) die("mount /dev/vda");

  /* The ports appear as the virtio-serial driver learns of them, which on a
   * loaded host can take a while: wait for the ones the workload needs, and
   * pick up exec ports whenever they show up (scan_exec_ports in the loop). */
  status_fd = open_port("capsa.status", O_WRONLY, 10000);
  stdout_fd = open_port("capsa.stdout", O_WRONLY, 10000);
  stderr_fd = open_port("capsa.stderr", O_WRONLY, 10000);
  stdin_fd = open_port("capsa.stdin", O_RDONLY, 10000);
  ctl_fd = open_port("capsa.ctl", O_RDWR | O_NONBLOCK, 10000);
  if (status_fd < 0 || stdout_fd < 0 || stderr_fd < 0 || ctl_fd < 0) die("ports missing");
  nsessions = MAX_EXEC;
  for (int i = 0; i < MAX_EXEC; i++) {
    sessions[i].port = -1;
    sessions[i].in_w = sessions[i].out_r = sessions[i].err_r = -1;
  }
  int missing_exec = scan_exec_ports();
  logmsg("ready");

  for (;;) {
    if (hup_until && now_ms() >= hup_until) {
      hup_until = 0;
      ctl_hup = 0;
      for (int i = 0; i < nsessions; i++) sessions[i].hup = sessions[i].quiet = 0;
    }
    struct pollfd p[3 + MAX_EXEC * 4];
    void *who[3 + MAX_EXEC * 4];
    int kind[3 + MAX_EXEC * 4];
    int np = 0;
#define ADD(fd_, ev_, who_, kind_) (p[np].fd = (fd_), p[np].events = (ev_), p[np].revents = 0, who[np] = (who_), kind[np] = (kind_), np++)
    ADD(sfd, POLLIN, NULL, 0);
    if (!ctl_hup) ADD(ctl_fd, POLLIN | (ctl_out.len ? POLLOUT : 0), NULL, 1);
    if (wl_master >= 0) {
      if (tty_len) ADD(wl_master, POLLOUT, NULL, 3);
      else if (!stdin_eof) ADD(stdin_fd, POLLIN, NULL, 2);
      ADD(wl_master, POLLIN, NULL, 4);
    }
    for (int i = 0; i < nsessions; i++) {
      struct session *x = &sessions[i];
      if (x->port < 0) continue;
      if (x->hup) continue;
      if (!x->quiet) ADD(x->port, POLLIN | (x->out.len ? POLLOUT : 0), x, 10);
      if (x->out_r >= 0 && x->out.len < OUTBUF / 2) ADD(x->out_r, POLLIN, x, 11);
      if (x->err_r >= 0 && x->out.len < OUTBUF / 2) ADD(x->err_r, POLLIN, x, 12);
    }
    /* a port the host is not connected to reports POLLHUP without end: look again later */
    int timeout = missing_exec ? 200 : -1;
    if (hup_until) {
      long long left = hup_until - now_ms();
      timeout = left < 0 ? 0 : (int)left;
    }
    int n = poll(p, np, timeout);
    if (n < 0 && errno != EINTR) die("poll");
    if (missing_exec) missing_exec = scan_exec_ports();
    for (int i = 0; i < np && n > 0; i++) {
      short ev = p[i].revents;
      if (!ev) continue;
      struct session *x = who[i];
      switch (kind[i]) {
        case 0: {
          struct signalfd_siginfo si;
          while (read(sfd, &si, sizeof si) == sizeof si) {}
          reap();
          break;
        }
        case 1:
          /* POLLHUP alone is not proof the host left: the driver learns of a
           * reconnect through its control queue, possibly after the new
           * client's data has arrived. Only a read that returns 0 (no data,
           * host gone) ends what the port was doing. */
          if (ev & POLLOUT) out_flush(&ctl_out, ctl_fd);
          if (ev & (POLLIN | POLLHUP)) {
            int r = read_port(ctl_fd, &ctl_rd, NULL);
            if (r < 0) {
              reader_reset(&ctl_rd);
              ctl_out.len = 0;
              back_off(&ctl_hup);
            } else if (r == 0 && (ev & POLLHUP)) {
              /* hung up yet nothing to read (EAGAIN): look again after the back-off, or poll would spin */
              back_off(&ctl_hup);
            }
          }
          break;
        case 2: {
          ssize_t r = read(stdin_fd, tty_buf, sizeof tty_buf);
          if (r > 0) tty_len = r;
          else if (r == 0 || errno != EINTR) stdin_eof = 1;
          break;
        }
        case 3: {
          ssize_t w = write(wl_master, tty_buf, tty_len);
          if (w > 0) memmove(tty_buf, tty_buf + w, tty_len - w), tty_len -= w;
          break;
        }
        case 4: {
          char b[65536];
          ssize_t r = read(wl_master, b, sizeof b);
          if (r > 0) (void)!write(stdout_fd, b, r);
          break;
        }
        case 10: {
          /* as for ctl: only a read of 0 bytes (or a write error) means the host went away */
          int gone = (ev & POLLOUT) && out_flush(&x->out, x->port) < 0;
          int r = 1;
          if (!gone && (ev & (POLLIN | POLLHUP))) r = read_port(x->port, &x->rd, x), gone = r < 0;
          if (gone) {
            session_abort(x);
            back_off(&x->hup);
          } else if (r == 0 && (ev & POLLHUP)) {
            back_off(&x->quiet); /* as for ctl; the session and its pipes go on */
          }
          break;
        }
        case 11:
          pump_output(x, x->out_r, 'O');
          break;
        case 12:
          pump_output(x, x->err_r, 'R');
          break;
      }
    }
    for (int i = 0; i < nsessions; i++) {
      struct session *x = &sessions[i];
      if (x->pending_exit && x->out_r < 0 && x->err_r < 0) {
        char b[16];
        int l = snprintf(b, sizeof b, "%d", exit_code(x->status));
        if (out_frame(&x->out, 'Q', b, l) == 0) {
          x->pending_exit = 0;
          x->pid = 0;
          session_close_io(x);
        }
      } else if (x->pending_exit && x->tty && x->out_r >= 0) {
        /* a terminal does not report EOF while its master is open: drain and close */
        pump_output(x, x->out_r, 'O');
      }
      if (x->out.len && !x->hup) out_flush(&x->out, x->port);
    }
  }
}
