import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxUid, type LaunchExtras, type ShellSandbox } from './bubblewrap.ts';
import { egressBridgeCommand, egressEnv, EgressProxy, EGRESS_PORT } from './egress.ts';
import type { SandboxRecipe } from './interface.ts';
import { PACKAGES_DIR, REGISTRY_HOSTS, type Installer } from './packages.ts';
import { handOver } from './services.ts';

/** Where the installer sees the egress proxy's socket. */
const SOCKET_DIR = '/run/oma';

/** What the package managers read besides /usr: CA certificates, and apt's sources, lists and status. */
const SYSTEM_READS = ['/etc/ssl', '/etc/ca-certificates', '/etc/apt', '/var/lib/apt/lists', '/var/lib/dpkg', '/etc/dpkg'];

/**
 * Installs packages in a bubblewrap sandbox like a session's (its own uid, cgroup limits, no host
 * view, no secrets) whose only writable host path is the cache entry being built, and whose only
 * network is a host-side egress proxy for this install alone, open to the managers' registries and
 * the configured mirrors. Refused connections are listed in the output, so a failing install says
 * which host it could not reach.
 */
export function bubblewrapInstaller(launch: (recipe: SandboxRecipe, extras: LaunchExtras) => Promise<ShellSandbox>): Installer {
  return async ({ key, script, target, managers, settings }) => {
    const id = `pkg_${key}`;
    const socketDir = mkdtempSync(join(tmpdir(), 'oma-egress-'));
    const refused: string[] = [];
    const proxy = await EgressProxy.start({
      socketPath: join(socketDir, 'egress.sock'),
      policy: { allowedHosts: [...new Set([...managers.flatMap((manager) => REGISTRY_HOSTS[manager]), ...settings.allowedHosts])] },
      onDecision: (decision) => decision.allowed || refused.push(`${decision.host}:${decision.port} (${decision.reason ?? 'not allowed'})`),
    });
    try {
      handOver(socketDir, id); // the installer's uid alone may enter and connect
      if (process.getuid?.() === 0) chownSync(target, sandboxUid(id), sandboxUid(id));
      const sandbox = await launch(
        { sessionId: id, workspaceId: '-', environmentId: '-' },
        {
          binds: ['--bind', target, PACKAGES_DIR, '--bind', socketDir, SOCKET_DIR, ...SYSTEM_READS.flatMap((path) => ['--ro-bind-try', path, path])],
          env: { ...egressEnv(), ...settings.env },
          quota: false,
          scratch: true,
        },
      );
      try {
        const ready = `for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/${EGRESS_PORT}) 2>/dev/null && break; sleep 0.02; done`;
        const result = await sandbox.runScript(`${egressBridgeCommand(`${SOCKET_DIR}/egress.sock`)} &\n${ready}\n${script}`, settings.timeoutMs);
        const blocked = refused.length > 0 ? `\noma: the package registries' proxy refused: ${[...new Set(refused)].join(', ')}` : '';
        return { status: result.status, output: result.output + blocked };
      } finally {
        await sandbox.dispose();
      }
    } finally {
      await proxy.close();
      rmSync(socketDir, { recursive: true, force: true });
    }
  };
}
