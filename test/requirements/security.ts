/**
 * Security requirements: the must-not suite (issue: hands, must-not suite; DESIGN.md "Hands",
 * "Secrets never enter a sandbox"). A scripted model drives probes through the bash tool in real
 * bubblewrap sandboxes, with canary secrets planted in the server's environment, files and database.
 * Tests cite the id in their name: `[SEC-1] …`.
 */
export const securityRequirements: Record<string, string> = {
  'SEC-1': "no secret of the server reaches the sandbox through the environment: the shell's variables, /proc/*/environ and cmdline of every visible process, inherited descriptors; no host process is visible",
  'SEC-2': 'host paths are out of reach from the sandbox: /root, /etc (shadow, passwd), the data dir, the repository, other sessions\' workspaces, host devices, /sys; no canary anywhere in its visible filesystem',
  'SEC-3': "the sandbox has no network: the server's port, PostgreSQL, MariaDB, Redis, RabbitMQ, Mosquitto, NATS on 127.0.0.1 and the host's unix sockets are unreachable; loopback is its only interface",
  'SEC-4': 'writes outside the workspace never reach the host: /usr is read-only, /tmp and / are the sandbox\'s own, host paths (also through /proc/*/root, hard links, device nodes, symlinks the host follows) stay untouched',
  'SEC-5': 'no privilege escalation: no nested namespaces (user or other), no mount/chroot, ptrace only of its own capability-less processes, setuid binaries inert (no_new_privs), no capabilities, signals reach only the sandbox',
  'SEC-6': 'resource exhaustion is contained: a fork bomb stops at the pids limit and memory exhaustion at the memory limit (cgroups), without harming the server or the host; disk is limited per file (RLIMIT_FSIZE), per /tmp (tmpfs size) and per workspace (an ext4 image of a fixed size)',
  'SEC-7': 'no process outlives its sandbox: a timed-out call kills the sandbox and all its processes, and background or daemonized processes end when the sandbox is disposed',
  'SEC-8': 'no canary appears in any event of any session, through events.list nor in the raw events table',
  'SEC-9': 'after every probe the host is unchanged (no marker file outside workspaces, host files intact, no process of a sandbox uid, no leftover cgroup) and the server is healthy (GET /healthz, a normal turn with a tool call)',
};
