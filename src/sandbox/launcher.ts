import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { Cgroup, type Limits } from './cgroups.ts';
import { IMAGE_FUNCTIONS } from './disk.ts';

/**
 * The root side of starting a sandbox (when oma runs as root): a shell in a mount namespace of its
 * own (`unshare --mount`), already inside a cgroup with the sandbox limits, waiting on its stdin.
 * Handed a session (`become`), it mounts the session's workspace image (making it first if needed),
 * sets the file-size limit (a hard one: set by root, the sandbox cannot raise it), drops to the
 * session's uid and becomes bwrap, which reads its options from fd 3: they are never parsed by a
 * shell and never on a command line.
 *
 * The shell is in its cgroup before it forks anything, so nothing of the sandbox ever runs outside
 * it. Moving a process into cgroup v1 groups is the slow part of a start (~11 ms here) and the same
 * for every sandbox, so `Launchers` keeps one spare launcher ready and a provision only hands it over.
 */

/** What bwrap runs: the sandbox's one process (see shell.ts). */
export const SANDBOX_COMMAND = ['/bin/bash', '--noprofile', '--norc'];

// dash. Made ahead, while nobody waits: this launcher's spare image ($1, or -) of size $2, mounted
// (taken from $3, a spare another launcher left, when there is one).
// Then one tab-separated line: image or -, workspace, size, uid, file limit in 512-byte blocks or 0.
// Should oma go away first (stdin closes), the spare goes too.
const SCRIPT = String.raw`${IMAGE_FUNCTIONS}
prepare_spare "$1" "$2" "$3"
IFS='	' read -r image workspace bytes uid blocks || { drop_spare; exit 1; }
if [ "$image" = - ]; then drop_spare; else mount_workspace "$image" "$workspace" "$bytes" "$uid"; fi
[ "$blocks" = 0 ] || ulimit -f "$blocks" || exit 1
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups -- bwrap --args 3 ${SANDBOX_COMMAND.join(' ')}`;

export interface Handover {
  /** The workspace image to mount at `workspace`, or undefined for a plain directory. */
  image: string | undefined;
  workspace: string;
  diskBytes: number;
  uid: number;
  fileBytes: number | undefined;
  /** bwrap's options (everything but the command). */
  bwrap: string[];
}

export class Launcher {
  private constructor(
    private readonly child: ChildProcess,
    readonly cgroup: Cgroup | undefined,
    private readonly spare: string | undefined,
  ) {}

  /**
   * `spare`: where to keep an empty workspace image made ahead (of `limits.diskBytes`), and where
   * an unused one is left for the next launcher, if workspaces have a size.
   */
  static async start(limits: Limits, spare?: { own: string; free: string }): Promise<Launcher> {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', SCRIPT, 'sh', spare?.own ?? '-', String(limits.diskBytes ?? 0), spare?.free ?? '-'], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, // the launcher's own (bwrap clears it for the sandbox)
      cwd: '/', // nothing of the host's working directory in the sandbox's view (bwrap's own PWD)
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    child.once('error', () => {}); // a spawn failure shows as no pid, below
    for (const stream of child.stdio) stream?.on('error', () => {});
    if (!child.pid) throw new Error('the sandbox launcher (unshare) could not be started');
    let cgroup: Cgroup | undefined;
    try {
      // Named after the launcher and, last, the oma process that owns it (see sweepCgroups).
      cgroup = await Cgroup.create(`oma-sandbox-${child.pid}-${process.pid}`, limits);
      await cgroup?.add(child.pid);
    } catch (error) {
      child.kill('SIGKILL'); // never run a sandbox without the limits it was meant to have
      await cgroup?.remove();
      throw error;
    }
    // A spare waiting must not keep oma (or a test) alive; `become` holds it again.
    Launcher.hold(child, false);
    return new Launcher(child, cgroup, spare?.own);
  }

  private static hold(child: ChildProcess, held: boolean) {
    for (const handle of [child, ...child.stdio] as { ref?(): void; unref?(): void }[]) (held ? handle?.ref : handle?.unref)?.call(handle);
  }

  /** Still waiting to be handed a session. */
  get ready(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Become the session's sandbox: returns the process that is (about to be) its bwrap. */
  become(handover: Handover): ChildProcessWithoutNullStreams {
    const fields = [handover.image ?? '-', handover.workspace, String(handover.diskBytes), String(handover.uid), String(handover.fileBytes ? Math.ceil(handover.fileBytes / 512) : 0)];
    if (fields.some((field) => /[\t\n]/.test(field))) throw new Error('a workspace path with a tab or a newline cannot be used');
    if (handover.bwrap.some((arg) => arg.includes('\0'))) throw new Error('a sandbox path cannot contain a NUL byte');
    Launcher.hold(this.child, true);
    (this.child.stdio[3] as Writable).end(Buffer.from(handover.bwrap.map((arg) => `${arg}\0`).join('')));
    this.child.stdin!.write(`${fields.join('\t')}\n`);
    return this.child as ChildProcessWithoutNullStreams;
  }

  /** A launcher never handed over: kill it, remove its cgroup and its spare image. */
  async discard() {
    this.child.kill('SIGKILL');
    await this.cgroup?.remove();
    if (this.spare) rmSync(this.spare, { force: true });
  }
}

/**
 * The next spare starts this long after one is handed out: at once, it would compete for the CPU with
 * the sandbox being started (~3 ms more on 2 cores); much later, provisions in quick succession would
 * find none ready (measured: 10 ms gives 13.8 ms p50 spaced out, 16.5 ms back to back).
 */
const REFILL_DELAY_MS = 10;

/** Numbers every launcher's spare image, process-wide: two launchers must never share one (see disk.ts). */
let serial = 0;

/** Keeps one launcher ready, so a provision skips the cgroup set-up; starts the next one after handing one out. */
export class Launchers {
  private spare: Promise<Launcher> | undefined;
  private closed = false;

  /** `spareImage(serial)`: where a launcher keeps its spare workspace image (serial undefined: the one left unused), when workspaces have a size. */
  constructor(
    private readonly limits: Limits,
    private readonly spareImage?: (serial?: number) => string,
  ) {}

  async take(): Promise<Launcher> {
    const spare = this.spare;
    this.spare = undefined;
    const launcher = await spare?.catch(() => undefined);
    setTimeout(() => this.refill(), REFILL_DELAY_MS).unref();
    if (launcher?.ready) return launcher;
    void launcher?.discard();
    return this.start();
  }

  async close() {
    this.closed = true;
    const spare = this.spare;
    this.spare = undefined;
    await spare?.then((launcher) => launcher.discard(), () => {});
    if (this.spareImage) rmSync(this.spareImage(), { force: true }); // the one left unused, if any
  }

  private start() {
    return Launcher.start(this.limits, this.spareImage && { own: this.spareImage(++serial), free: this.spareImage() });
  }

  private refill() {
    if (this.closed || this.spare) return;
    this.spare = this.start();
    this.spare.catch(() => (this.spare = undefined));
  }
}
