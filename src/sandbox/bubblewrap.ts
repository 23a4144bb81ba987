import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lchownSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { sweepCgroups, type Cgroup, type Limits } from './cgroups.ts';
import { diskQuotaSupport, spareImage, sweepSpareImages, workspaceImage } from './disk.ts';
import { Launchers, SANDBOX_COMMAND } from './launcher.ts';
import { bubblewrapInstaller } from './installer.ts';
import { normalizePackages, PackageCache, PACKAGES_DIR, packagesEnv, type PackageSettings } from './packages.ts';
import type { Sandbox, SandboxProvider, SandboxRecipe } from './interface.ts';
import { servicesLaunch } from './services.ts';
import { quote, Shell } from './shell.ts';
import { runToolsetTool } from './toolset.ts';

/**
 * Sandboxes as bubblewrap containers: one persistent bash per session in fresh namespaces (no
 * network, no host processes, its own /proc /dev /tmp, read-only /usr), the session's workspace at
 * /workspace. Run as root, each session's sandbox runs as its own unprivileged host uid (bwrap started
 * by root with `--uid` would still be host uid 0 inside) and in its own cgroup; run as an ordinary
 * user, it runs as that user in its own user namespace, limited by rlimits. Nothing secret is on
 * bwrap's command line (readable inside as /proc/1/cmdline) or in its environment (`--clearenv`).
 */

export interface BubblewrapOptions {
  /** Where workspaces live on the host, one directory per session (kept across sandboxes). */
  root: string;
  limits: Limits;
  /** The environments' packages: where they are cached and how they are fetched. */
  packages?: PackageSettings;
}

/** What a sandbox gets beyond its session's recipe (installed packages, the installer's network). */
export interface LaunchExtras {
  binds?: string[];
  env?: Record<string, string>;
  /** Whether the workspace gets its size limit (an image); the installer's scratch space does not. */
  quota?: boolean;
  /** The workspace is scratch space (the installer's downloads and builds): removed with the sandbox. */
  scratch?: boolean;
}

export const WORKDIR = '/workspace';
const UID_BASE = 200_000;
const UID_RANGE = 1_000_000;

/** The host uid a session's sandbox runs as (when oma runs as root): stable per session. */
export function sandboxUid(sessionId: string): number {
  return UID_BASE + (createHash('sha256').update(sessionId).digest().readUInt32BE(0) % UID_RANGE);
}

/**
 * Where a file resource goes: `{workspacePath}` (relative to the workspace, a writable copy) or
 * `{sandboxPath}` (anywhere else, bound read-only). Paths with `..` are refused.
 */
export function placeFile(mountPath: string): { workspacePath: string } | { sandboxPath: string } {
  const path = posix.normalize(mountPath.startsWith('/') ? mountPath : posix.join(WORKDIR, mountPath));
  if (path.split('/').includes('..') || !path.startsWith('/')) throw new Error(`mount_path ${mountPath} is not allowed`);
  if (path === WORKDIR || path.startsWith(`${WORKDIR}/`)) return { workspacePath: path.slice(WORKDIR.length + 1) };
  return { sandboxPath: path };
}

/** Where the staged files are seen inside the sandbox, read-only. */
const STAGED = '/.oma-files';

/**
 * Stage the recipe's files in `staging` (a fresh host directory oma creates; the sandbox never
 * writes it). Files for absolute paths outside the workspace are bound read-only at that path; files
 * for the workspace are copied in *by the sandbox itself* (`copyScript`), as its own uid and through
 * its own view: the host never writes into a workspace, where a symlink left by an earlier sandbox
 * could point it at any host file.
 */
export async function stageFiles(recipe: SandboxRecipe, staging: string): Promise<{ binds: string[]; copyScript: string }> {
  const binds: string[] = [];
  const copies: string[] = [];
  for (const [index, file] of (recipe.files ?? []).entries()) {
    const place = placeFile(file.mountPath);
    mkdirSync(staging, { recursive: true, mode: 0o755 });
    const source = join(staging, String(index));
    writeFileSync(source, await file.content(), { mode: 0o644 });
    if ('workspacePath' in place) copies.push(`mkdir -p -- "$(dirname -- ${quote(place.workspacePath)})" && cp -f -- ${STAGED}/${index} ${quote(place.workspacePath)}`);
    else binds.push('--ro-bind', source, place.sandboxPath);
  }
  if (copies.length > 0) binds.push('--ro-bind', staging, STAGED);
  return { binds, copyScript: copies.join('\n') };
}

/** bwrap's options for a session's sandbox (the command, `SANDBOX_COMMAND`, goes after them). */
export function bwrapOptions(workspace: string, binds: string[] = [], limits: Partial<Limits> = {}, env: Record<string, string> = {}): string[] {
  return [
    ...binds,
    '--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session', '--clearenv',
    '--ro-bind', '/usr', '/usr',
    '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/sbin', '/sbin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64',
    '--ro-bind-try', '/etc/alternatives', '/etc/alternatives',
    '--proc', '/proc', '--dev', '/dev', ...(limits.tmpBytes ? ['--size', String(limits.tmpBytes)] : []), '--tmpfs', '/tmp',
    '--bind', workspace, WORKDIR, '--chdir', WORKDIR,
    '--hostname', 'sandbox',
    '--setenv', 'HOME', WORKDIR, '--setenv', 'PATH', '/usr/local/bin:/usr/bin:/bin', '--setenv', 'OMA_WORKDIR', WORKDIR,
    '--setenv', 'LANG', 'C.UTF-8', '--setenv', 'TERM', 'dumb',
    ...Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value]), // later wins: may replace PATH
  ];
}

export function bwrapArgs(workspace: string, binds: string[] = [], limits: Partial<Limits> = {}, env: Record<string, string> = {}): string[] {
  return [...bwrapOptions(workspace, binds, limits, env), ...SANDBOX_COMMAND];
}

/**
 * bwrap runs as the sandbox's uid and must reach the workspace to mount it: the directories above it
 * get the execute bit for others (enter, not list). The sandbox itself never sees the host's tree.
 */
function traversable(root: string) {
  mkdirSync(root, { recursive: true, mode: 0o711 });
  for (let dir = resolve(root); dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) chmodSync(dir, (mode & 0o7777) | 0o001);
  }
}

export class BubblewrapProvider implements SandboxProvider {
  readonly name = 'bubblewrap';
  private readonly asRoot = process.getuid?.() === 0;

  private readonly packages: PackageCache | undefined;
  private readonly launchers: Launchers;

  constructor(private readonly options: BubblewrapOptions) {
    if (this.asRoot) {
      sweepCgroups(); // what oma processes that died left behind
      traversable(options.root);
    }
    const { diskBytes } = options.limits;
    const quota = this.asRoot && diskBytes && diskQuotaSupport().supported;
    if (quota) sweepSpareImages(options.root);
    this.launchers = new Launchers(options.limits, quota ? (serial) => spareImage(options.root, diskBytes, serial) : undefined);
    this.packages = options.packages && new PackageCache(options.packages, bubblewrapInstaller((recipe, extras) => this.launch(recipe, extras)));
  }

  /** The session's sandbox, after its environment's packages are installed (once per package set, cached). */
  async provision(recipe: SandboxRecipe): Promise<Sandbox> {
    if (normalizePackages(recipe.packages).length === 0) return this.launch(recipe, { quota: true });
    if (!this.packages) throw new Error("this oma server has no package cache configured, so the environment's packages cannot be installed");
    const entry = await this.packages.ensure(recipe.packages!);
    return this.launch(recipe, { binds: ['--ro-bind', entry, PACKAGES_DIR], env: packagesEnv(recipe.packages, PACKAGES_DIR), quota: true });
  }

  /** Stop the spare launcher (sandboxes are the pool's to dispose). */
  async close(): Promise<void> {
    await this.launchers.close();
  }

  async prepare(recipe: SandboxRecipe): Promise<void> {
    if (this.packages && normalizePackages(recipe.packages).length > 0) await this.packages.ensure(recipe.packages!);
  }

  async launch(recipe: SandboxRecipe, extras: LaunchExtras): Promise<ShellSandbox> {
    if (this.asRoot) traversable(this.options.root);
    const workspace = join(this.options.root, recipe.sessionId);
    mkdirSync(workspace, { recursive: true, mode: 0o700 });
    const staging = join(this.options.root, '.files', `${recipe.sessionId}-${process.pid}-${Date.now()}`);
    const uid = this.asRoot ? sandboxUid(recipe.sessionId) : undefined;
    const staged = await stageFiles(recipe, staging);
    const services = servicesLaunch(recipe.services);
    const binds = [...staged.binds, ...services.binds, ...(extras.binds ?? [])];
    const env = { ...services.env, ...extras.env };
    let child: ChildProcessWithoutNullStreams;
    let cgroup: Cgroup | undefined;
    if (uid !== undefined) {
      const { diskBytes, fileBytes } = this.options.limits;
      const image = extras.quota && diskBytes && diskQuotaSupport().supported ? workspaceImage(workspace) : undefined;
      if (!image && statSync(workspace).uid !== uid) lchownSync(workspace, uid, uid);
      // A launcher already in its cgroup (see launcher.ts) becomes this session's bwrap.
      const launcher = await this.launchers.take();
      cgroup = launcher.cgroup;
      try {
        child = launcher.become({ image, workspace, diskBytes: diskBytes ?? 0, uid, fileBytes, bwrap: bwrapOptions(workspace, binds, this.options.limits, env) });
      } catch (error) {
        await launcher.discard();
        throw error;
      }
    } else {
      child = spawn('bwrap', bwrapArgs(workspace, binds, this.options.limits, env), { env: {}, cwd: '/', detached: true, stdio: 'pipe' });
    }
    const sandbox = new ShellSandbox(child, async () => {
      rmSync(staging, { recursive: true, force: true });
      if (extras.scratch) rmSync(workspace, { recursive: true, force: true });
      await cgroup?.remove();
    });
    const setup = [staged.copyScript, services.setup].filter(Boolean).join('\n');
    if (setup) await sandbox.setup(setup);
    return sandbox;
  }
}

/** A sandbox whose one process is a `Shell`; shared by the bubblewrap and process providers. */
export class ShellSandbox implements Sandbox {
  private readonly shell: Shell;
  private closed = false;
  private killed = false;
  private readonly exited: Promise<void>;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly cleanup: () => void | Promise<void> = () => {},
    private readonly workdir = WORKDIR,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('error', () => {});
    this.shell = new Shell(child);
  }

  get alive(): boolean {
    return !this.closed && !this.killed && this.shell.alive;
  }

  /** Run a setup script in the workdir before the sandbox is handed out; a failure disposes it. */
  async setup(script: string) {
    const { output, status } = await this.shell.run(script, 'sub').catch((error: Error) => ({ output: error.message, status: -1 }));
    if (status !== 0) {
      await this.dispose();
      throw new Error(`setting up the sandbox failed: ${output.trim()}`);
    }
  }

  /** Run a script in a subshell at the workdir, killing the sandbox if it takes longer than `timeoutMs`. */
  async runScript(script: string, timeoutMs: number): Promise<{ output: string; status: number }> {
    let timedOut = false;
    const timer = setTimeout(() => ((timedOut = true), this.kill()), timeoutMs);
    try {
      return await this.shell.run(script, 'sub');
    } catch (error) {
      const why = timedOut ? `timed out after ${timeoutMs} ms` : (error as Error).message;
      return { output: `${this.shell.partialOutput()}\n${why}`, status: -1 };
    } finally {
      clearTimeout(timer);
    }
  }

  async execute(name: string, input: Record<string, unknown>, options: { signal?: AbortSignal } = {}): Promise<string> {
    if (!this.alive) throw new Error('the sandbox is gone');
    return runToolsetTool({ shell: this.shell, workdir: this.workdir, kill: () => this.kill(), signal: options.signal }, name, input);
  }

  async dispose(): Promise<void> {
    this.closed = true;
    this.kill();
    await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 2_000))]);
    await this.cleanup();
  }

  /** Every process of the sandbox: bwrap's session and, through --die-with-parent, its pid namespace. */
  private kill() {
    this.killed = true;
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
  }
}
