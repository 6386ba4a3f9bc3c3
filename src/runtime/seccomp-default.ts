// capsa's default seccomp profile, with the semantics of docker's default
// (moby profiles/seccomp/default.json, as of docker 25): an allowlist of
// syscalls, everything else fails with EPERM; a few syscalls are allowed only
// with arguments that cannot create namespaces or select odd personalities,
// and the syscalls that a capability guards are allowed only when the
// container holds that capability. Written for capsa (not a copy of the moby
// file); the format is docker's profile format, which seccomp.ts compiles into
// the OCI runtime-spec form, so a user's `--security-opt seccomp=file.json`
// and this default go through the same code.

import type { SeccompAction, SeccompArg } from "./oci.ts";

export interface ProfileCondition {
  /** Any of these capabilities (includes) / none of them (excludes). */
  caps?: string[];
  /** docker arch names: amd64, arm64, … */
  arches?: string[];
  /** "4.8": only on kernels at least this new. */
  minKernel?: string;
}

export interface ProfileRule {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: SeccompArg[];
  includes?: ProfileCondition;
  excludes?: ProfileCondition;
  comment?: string;
}

export interface SeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  /** OCI style: the architectures the filter accepts. */
  architectures?: string[];
  /** docker style: architectures per host arch, used when `architectures` is absent. */
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  syscalls?: ProfileRule[];
}

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

const words = (s: string): string[] => s.split(/\s+/).filter(Boolean);

/** Syscalls every container may make: no capability guards them beyond the kernel's own checks. */
const ALWAYS_ALLOWED = words(`
  accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
  clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
  clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat
  dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2
  epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group
  faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2
  fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr
  fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64
  futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
  getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
  getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
  getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage
  getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
  inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
  io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set
  io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self
  lchown lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek
  lsetxattr lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore
  mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
  mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
  mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
  nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal
  pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv
  preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2
  read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
  remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
  rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
  rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
  sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
  sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
  sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
  semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto
  setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
  setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
  setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
  setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
  socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync
  sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
  timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
  timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
  umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice
  wait4 waitid waitpid write writev
`);

/** Syscalls that need a capability the default set lacks; allowed only when the container has it. */
const BY_CAPABILITY: Record<string, string[]> = {
  CAP_SYS_ADMIN: words(`
    bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr
    move_mount name_to_handle_at open_tree perf_event_open quotactl quotactl_fd setdomainname
    sethostname setns syslog umount umount2 unshare`),
  CAP_SYS_BOOT: ["reboot"],
  CAP_SYS_CHROOT: ["chroot"],
  CAP_SYS_MODULE: ["delete_module", "init_module", "finit_module"],
  CAP_SYS_PACCT: ["acct"],
  CAP_SYS_PTRACE: ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
  CAP_SYS_RAWIO: ["iopl", "ioperm"],
  CAP_SYS_TIME: ["settimeofday", "stime", "clock_settime", "clock_settime64"],
  CAP_SYS_TTY_CONFIG: ["vhangup"],
  CAP_SYS_NICE: ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
  CAP_SYSLOG: ["syslog"],
  CAP_BPF: ["bpf"],
  CAP_PERFMON: ["perf_event_open"],
  CAP_DAC_READ_SEARCH: ["open_by_handle_at"],
};

/** Syscalls that only exist on some architectures. */
const BY_ARCH: { arches: string[]; names: string[] }[] = [
  { arches: ["amd64", "x32", "x86"], names: ["arch_prctl"] },
  { arches: ["amd64", "x32", "x86"], names: ["modify_ldt"] },
  { arches: ["arm", "arm64"], names: ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"] },
  { arches: ["ppc64le"], names: ["sync_file_range2", "swapcontext"] },
  { arches: ["s390", "s390x"], names: ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"] },
  { arches: ["riscv64"], names: ["riscv_flush_icache"] },
];

/** personality(2) values a program may select: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query value. */
const PERSONALITIES = [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff];

export function defaultSeccompProfile(): SeccompProfile {
  const rules: ProfileRule[] = [{ names: ALWAYS_ALLOWED, action: "SCMP_ACT_ALLOW" }];
  for (const value of PERSONALITIES) {
    rules.push({ names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value, op: "SCMP_CMP_EQ" }] });
  }
  rules.push(
    {
      names: ["socket"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: AF_VSOCK, op: "SCMP_CMP_NE" }],
      comment: "any address family but AF_VSOCK, which is not namespaced",
    },
    {
      names: ["ptrace", "process_vm_readv", "process_vm_writev"],
      action: "SCMP_ACT_ALLOW",
      includes: { minKernel: "4.8" },
      comment: "before 4.8 ptrace could bypass seccomp",
    },
    {
      names: ["clone"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
      excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390", "s390x"] },
      comment: "clone without namespace flags",
    },
    {
      names: ["clone"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
      includes: { arches: ["s390", "s390x"] },
      excludes: { caps: ["CAP_SYS_ADMIN"] },
      comment: "s390 swaps clone's first two arguments",
    },
    {
      names: ["clone3"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: ENOSYS,
      excludes: { caps: ["CAP_SYS_ADMIN"] },
      comment: "clone3's flags are in memory, out of seccomp's reach: ENOSYS makes libc fall back to clone",
    },
  );
  for (const { arches, names } of BY_ARCH) rules.push({ names, action: "SCMP_ACT_ALLOW", includes: { arches } });
  for (const [cap, names] of Object.entries(BY_CAPABILITY)) rules.push({ names, action: "SCMP_ACT_ALLOW", includes: { caps: [cap] } });
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    archMap: [
      { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
      { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
      { architecture: "SCMP_ARCH_PPC64LE", subArchitectures: ["SCMP_ARCH_PPC64", "SCMP_ARCH_PPC"] },
      { architecture: "SCMP_ARCH_S390X", subArchitectures: ["SCMP_ARCH_S390"] },
      { architecture: "SCMP_ARCH_RISCV64", subArchitectures: [] },
    ],
    syscalls: rules,
  };
}
