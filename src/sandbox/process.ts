import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { placeFile, ShellSandbox } from './bubblewrap.ts';
import type { Sandbox, SandboxProvider, SandboxRecipe } from './interface.ts';

/**
 * Development only: the session's shell runs as a plain child process of oma, in the session's
 * workspace, with a minimal environment — but with oma's user and view of the machine, so it can
 * read anything oma can (including oma's own environment through /proc). Never with real secrets.
 */
export class ProcessProvider implements SandboxProvider {
  readonly name = 'process';

  constructor(private readonly options: { root: string }) {}

  async provision(recipe: SandboxRecipe): Promise<Sandbox> {
    if (Object.values(recipe.packages ?? {}).some((specs) => Array.isArray(specs) && specs.length > 0)) {
      throw new Error("the process sandbox provider does not install an environment's packages (config.packages); use OMA_SANDBOX=bubblewrap");
    }
    const workspace = join(this.options.root, recipe.sessionId);
    mkdirSync(workspace, { recursive: true, mode: 0o700 });
    // No mounts here: every file lands in the workspace (an absolute mount_path under its own name).
    for (const file of recipe.files ?? []) {
      const place = placeFile(file.mountPath);
      const target = join(workspace, 'workspacePath' in place ? place.workspacePath : place.sandboxPath.slice(1));
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, await file.content());
    }
    const child = spawn('/bin/bash', ['--noprofile', '--norc'], {
      cwd: workspace,
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: workspace, OMA_WORKDIR: workspace, LANG: 'C.UTF-8', TERM: 'dumb' },
      detached: true,
      stdio: 'pipe',
    });
    return new ShellSandbox(child, undefined, workspace);
  }
}
