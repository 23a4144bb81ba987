import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { sandboxUid } from './bubblewrap.ts';
import { egressBridgeCommand, egressEnv, EgressProxy, EGRESS_PORT } from './egress.ts';
import { GitProxy } from './git-proxy.ts';
import { ToolError, type RepositoryErrorType, type Sandbox, type SandboxProvider, type SandboxRecipe, type SandboxRepository, type SandboxServices } from './interface.ts';
import { quote } from './shell.ts';

/**
 * The host end of a sandbox's ways out. A sandbox has no network interface; what it may reach are
 * services on the host, one set per sandbox, listening on unix sockets in a directory bound into it
 * at `/run/oma` (socat bridges them to loopback ports inside):
 *
 * - `egress.sock`: the egress proxy with the session's allowlist (`HTTP(S)_PROXY` point at it);
 * - `git.sock`: the git proxy, serving the session's repositories alone and adding their tokens,
 *   which never enter the sandbox; `/etc/gitconfig` rewrites each repository's URL to it.
 *
 * Wraps any provider whose sandboxes can bind a host directory (bubblewrap reads `recipe.services`).
 * The services live exactly as long as the sandbox: disposing it closes them.
 */

/** Where the services' sockets are seen inside the sandbox. */
export const SERVICES_DIR = '/run/oma';
/** Where the git proxy's bridge listens inside the sandbox. */
export const GIT_PORT = 3129;
/** Longest a clone at provision may take. */
const CLONE_TIMEOUT_MS = 10 * 60_000;

export class HostServices implements SandboxProvider {
  constructor(private readonly inner: SandboxProvider) {}

  get name() {
    return this.inner.name;
  }

  prepare(recipe: SandboxRecipe): Promise<void> {
    return this.inner.prepare?.(recipe) ?? Promise.resolve();
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }

  async provision(recipe: SandboxRecipe): Promise<Sandbox> {
    const repositories = recipe.repositories ?? [];
    if (!recipe.egress && repositories.length === 0) return this.inner.provision(recipe);
    // 0700 (mkdtemp's mode) until its sockets exist; then the sandbox's own uid's alone (the sockets
    // too): the path is no secret, so no other user of the host may enter or connect.
    const socketDir = mkdtempSync(join(tmpdir(), 'oma-net-'));
    const closers: (() => Promise<void>)[] = [async () => rmSync(socketDir, { recursive: true, force: true })];
    const closeAll = async () => {
      for (const close of closers.reverse()) await close().catch(() => {});
    };
    try {
      if (recipe.egress) {
        const egress = await EgressProxy.start({
          socketPath: join(socketDir, 'egress.sock'),
          policy: { allowedHosts: recipe.egress.allowedHosts },
          onDecision: (decision) => decision.allowed || recipe.onNotice?.({ type: 'egress_refused', decision }),
        });
        closers.push(() => egress.close());
      }
      if (repositories.length > 0) {
        const git = await GitProxy.start({
          listen: { socketPath: join(socketDir, 'git.sock') },
          resolve: async (id) => {
            const repository = repositories.find((entry) => entry.resourceId === id);
            const token = await repository?.token();
            return repository && token !== undefined ? { url: repository.url, token } : undefined;
          },
          onOperation: (operation) => recipe.onNotice?.({ type: 'git', operation }),
        });
        closers.push(() => git.close());
        writeFileSync(join(socketDir, 'gitconfig'), gitConfig(repositories), { mode: 0o644 });
      }
      handOver(socketDir, recipe.sessionId);
      const services: SandboxServices = { socketDir, egress: Boolean(recipe.egress), git: repositories.length > 0 };
      const sandbox = await this.inner.provision({ ...recipe, services });
      for (const repository of repositories) await clone(sandbox, repository, recipe);
      return {
        execute: (name, input, options) => sandbox.execute(name, input, options),
        get alive() {
          return sandbox.alive;
        },
        async dispose() {
          await sandbox.dispose();
          await closeAll();
        },
      };
    } catch (error) {
      await closeAll();
      throw error;
    }
  }
}

/**
 * Give the socket directory and its sockets to the sandbox's uid (as root: each session's sandbox
 * runs as its own uid), readable and connectable by it alone. Unprivileged, they stay this user's.
 */
export function handOver(dir: string, sandboxId: string) {
  const uid = process.getuid?.() === 0 ? sandboxUid(sandboxId) : undefined;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    chmodSync(path, name.endsWith('.sock') ? 0o600 : 0o400);
    if (uid !== undefined) chownSync(path, uid, uid);
  }
  chmodSync(dir, 0o700);
  if (uid !== undefined) chownSync(dir, uid, uid);
}

/** What a provider adds to its sandbox for `services`: binds, environment, and the bridges to start before hand-out. */
export function servicesLaunch(services: SandboxServices | undefined): { binds: string[]; env: Record<string, string>; setup: string } {
  if (!services) return { binds: [], env: {}, setup: '' };
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: '0' };
  const binds = ['--ro-bind', services.socketDir, SERVICES_DIR];
  const bridges: [string, number][] = [];
  if (services.egress) {
    Object.assign(env, egressEnv(), { NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' });
    // HTTPS through the proxy needs the host's CA certificates.
    binds.push('--ro-bind-try', '/etc/ssl', '/etc/ssl', '--ro-bind-try', '/etc/ca-certificates', '/etc/ca-certificates');
    bridges.push(['egress.sock', EGRESS_PORT]);
  }
  if (services.git) {
    binds.push('--ro-bind', join(services.socketDir, 'gitconfig'), '/etc/gitconfig');
    bridges.push(['git.sock', GIT_PORT]);
  }
  const setup = bridges
    .map(([socket, port]) => {
      const start = `setsid ${egressBridgeCommand(`${SERVICES_DIR}/${socket}`, port)} </dev/null >/dev/null 2>&1 &`;
      const ready = `for i in $(seq 250); do (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && break; sleep 0.02; done`;
      return `${start}\n${ready}`;
    })
    .join('\n');
  return { binds, env, setup };
}

/**
 * The sandbox's system git config: each repository's URL rewritten to the git proxy (no token in it:
 * the proxy adds it), an identity for commits, and no credential helper to ask anything.
 */
export function gitConfig(repositories: SandboxRepository[]): string {
  const lines: string[] = [];
  for (const repository of repositories) {
    lines.push(`[url ${gitString(`http://127.0.0.1:${GIT_PORT}/${repository.resourceId}`)}]`, `\tinsteadOf = ${gitString(repository.url)}`);
    // The same repository named with or without `.git`.
    const other = repository.url.endsWith('.git') ? repository.url.slice(0, -4) : `${repository.url}.git`;
    lines.push(`[url ${gitString(`http://127.0.0.1:${GIT_PORT}/${repository.resourceId}`)}]`, `\tinsteadOf = ${gitString(other)}`);
  }
  lines.push('[user]', '\tname = oma agent', '\temail = agent@oma.invalid', '[credential]', '\thelper =', '[init]', '\tdefaultBranch = main', '[safe]', '\tdirectory = *');
  return `${lines.join('\n')}\n`;
}

function gitString(value: string): string {
  if (/[\n\0]/.test(value)) throw new Error('a repository URL cannot contain line breaks');
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Clone `repository` at its mount path unless an earlier sandbox of the session already did; a failure is reported, not thrown. */
async function clone(sandbox: Sandbox, repository: SandboxRepository, recipe: SandboxRecipe) {
  const path = posix.normalize(repository.mountPath.startsWith('/') ? repository.mountPath : posix.join('/workspace', repository.mountPath));
  const branch = repository.checkout?.type === 'branch' ? `--branch ${quote(repository.checkout.name)} ` : '';
  const commit = repository.checkout?.type === 'commit' ? `\ngit -C ${quote(path)} checkout --quiet ${quote(repository.checkout.sha)} 2>&1 || { echo "oma: checkout of ${repository.checkout.sha} failed"; exit 3; }` : '';
  const script = [
    `[ -e ${quote(`${path}/.git`)} ] && exit 0`,
    `mkdir -p -- "$(dirname -- ${quote(path)})" || exit 4`,
    `git clone --quiet ${branch}-- ${quote(repository.url)} ${quote(path)} 2>&1 || exit 2`,
    // origin keeps the repository's own URL (clone records the rewritten one); every fetch and push is rewritten again.
    `git -C ${quote(path)} remote set-url origin ${quote(repository.url)}${commit}`,
  ].join('\n');
  try {
    await sandbox.execute('bash', { command: `(\n${script}\n)`, timeout_ms: CLONE_TIMEOUT_MS });
  } catch (error) {
    const output = error instanceof Error ? error.message : String(error);
    const message = `Cloning ${repository.url} into ${path} failed: ${output.trim().slice(-2_000)}`;
    recipe.onNotice?.({ type: 'repository_error', errorType: cloneErrorType(output, error instanceof ToolError), resourceId: repository.resourceId, url: repository.url, message });
  }
}

/** Which spec error a failed clone is, from git's and the proxy's words. */
export function cloneErrorType(output: string, ranInSandbox: boolean): RepositoryErrorType {
  if (!ranInSandbox) return 'repository_clone_error';
  if (/credential|HTTP 401|Authentication failed/i.test(output)) return 'repository_authentication_error';
  if (/HTTP 403|forbidden/i.test(output)) return 'repository_forbidden_error';
  if (/not found|HTTP 404|does not exist/i.test(output) && !/Remote branch/i.test(output)) return 'repository_not_found_error';
  if (/Remote branch|checkout of|pathspec|did not match/i.test(output)) return 'repository_checkout_error';
  return 'repository_clone_error';
}
