import type { Sandbox, SandboxProvider, SandboxRecipe } from './interface.ts';

/** Why a sandbox went: reaped after `idleMs`, found dead (killed, timed out, failed), or oma stopping. */
export type DisposeReason = 'idle' | 'dead' | 'shutdown';

/** A sandbox's end, for the session's log: how long it lived and how long disposing it took. */
export interface DisposeRecord {
  sessionId: string;
  sandbox: string;
  reason: DisposeReason;
  livedMs: number;
  disposeMs: number;
}

/**
 * Keeps each session's sandbox between wakes, so the shell's state (cwd, variables, background
 * jobs) carries over from turn to turn, and reaps sandboxes idle for `idleMs`. The workspace
 * survives reaping (it is the provider's directory), so the next provision continues with the same
 * files. What callers get is a handle: disposing it hands the sandbox back; a sandbox that died is
 * replaced on the next provision.
 */
export class SandboxPool implements SandboxProvider {
  private readonly sandboxes = new Map<string, Entry>();
  private readonly reaper: NodeJS.Timeout;
  /** Told of every sandbox disposed (the server records it in the session's log); awaited, its failures ignored. */
  onDispose: ((record: DisposeRecord) => Promise<unknown> | void) | undefined;

  constructor(
    private readonly provider: SandboxProvider,
    private readonly options: { idleMs: number },
  ) {
    this.reaper = setInterval(() => void this.reap(), Math.max(100, Math.min(options.idleMs / 2, 30_000)));
    this.reaper.unref();
  }

  get name() {
    return this.provider.name;
  }

  async provision(recipe: SandboxRecipe): Promise<Sandbox> {
    let entry = this.sandboxes.get(recipe.sessionId);
    if (entry && (await entry.sandbox.then((sandbox) => sandbox.alive === false, () => true))) {
      this.sandboxes.delete(recipe.sessionId);
      void this.dispose(recipe.sessionId, entry, 'dead');
      entry = undefined;
    }
    if (!entry) {
      entry = { sandbox: this.provider.provision(recipe), users: 0, idleSince: Date.now(), createdAt: Date.now() };
      this.sandboxes.set(recipe.sessionId, entry);
      entry.sandbox.catch(() => this.sandboxes.get(recipe.sessionId) === entry && this.sandboxes.delete(recipe.sessionId));
    }
    const held = entry;
    const sandbox = await held.sandbox;
    held.users++;
    let released = false;
    return {
      execute: (name, input, options) => sandbox.execute(name, input, options),
      get alive() {
        return sandbox.alive;
      },
      dispose: async () => {
        if (released) return;
        released = true;
        held.users--;
        held.idleSince = Date.now();
        // A sandbox that died is not kept.
        if (sandbox.alive === false && this.sandboxes.get(recipe.sessionId) === held) {
          this.sandboxes.delete(recipe.sessionId);
          await this.dispose(recipe.sessionId, held, 'dead');
        }
      },
    };
  }

  async prepare(recipe: SandboxRecipe): Promise<void> {
    await this.provider.prepare?.(recipe);
  }

  /** Dispose sandboxes nobody holds that were idle for `idleMs`. */
  async reap(now = Date.now()) {
    for (const [sessionId, entry] of this.sandboxes) {
      if (entry.users === 0 && now - entry.idleSince >= this.options.idleMs) {
        this.sandboxes.delete(sessionId);
        await this.dispose(sessionId, entry, 'idle');
      }
    }
  }

  /** Dispose every sandbox (shutdown). */
  async close() {
    clearInterval(this.reaper);
    const entries = [...this.sandboxes];
    this.sandboxes.clear();
    await Promise.all(entries.map(([sessionId, entry]) => this.dispose(sessionId, entry, 'shutdown')));
    await this.provider.close?.();
  }

  private async dispose(sessionId: string, entry: Entry, reason: DisposeReason) {
    const sandbox = await entry.sandbox.catch(() => undefined);
    if (!sandbox) return; // never provisioned: nothing to dispose or record
    const started = performance.now();
    await sandbox.dispose().catch(() => {});
    const record = { sessionId, sandbox: this.provider.name, reason, livedMs: Date.now() - entry.createdAt, disposeMs: Math.round((performance.now() - started) * 100) / 100 };
    await Promise.resolve(this.onDispose?.(record)).catch(() => {});
  }

  /** Sessions with a live sandbox (for tests and status). */
  sessions(): string[] {
    return [...this.sandboxes.keys()];
  }
}

interface Entry {
  sandbox: Promise<Sandbox>;
  users: number;
  idleSince: number;
  createdAt: number;
}
