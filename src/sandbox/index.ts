import { BubblewrapProvider } from './bubblewrap.ts';
import type { Limits } from './cgroups.ts';
import type { SandboxProvider } from './interface.ts';
import type { PackageSettings } from './packages.ts';
import { SandboxPool } from './pool.ts';
import { ProcessProvider } from './process.ts';
import { HostServices } from './services.ts';

export type * from './interface.ts';
export { ToolError } from './interface.ts';
export { cgroupSupport, type Limits } from './cgroups.ts';
export { SandboxPool, type DisposeRecord, type DisposeReason } from './pool.ts';
export { HostServices } from './services.ts';
export { diskQuotaSupport, readWorkspaceFile } from './disk.ts';
export type { PackageSettings } from './packages.ts';

export interface SandboxSettings {
  /** Host directory of the workspaces, one per session. */
  root: string;
  limits: Limits;
  /** Idle sandboxes are disposed after this long (their workspace stays). */
  idleMs: number;
  /** The environments' packages: cache and registries (bubblewrap only). */
  packages?: PackageSettings;
}

/** The provider named by `OMA_SANDBOX`, behind a pool that keeps each session's sandbox between turns. */
export function openSandboxProvider(name: 'bubblewrap' | 'process', settings: SandboxSettings): SandboxPool {
  const provider: SandboxProvider = name === 'process' ? new ProcessProvider({ root: settings.root }) : new BubblewrapProvider({ root: settings.root, limits: settings.limits, packages: settings.packages });
  // Bubblewrap sandboxes reach the network and repositories only through host services; the process provider has no isolation to keep.
  return new SandboxPool(name === 'process' ? provider : new HostServices(provider), { idleMs: settings.idleMs });
}
