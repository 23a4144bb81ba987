/**
 * Hands: where the agent toolset's tools run. Providers implement the minimum; the brain's tool
 * router adds timeouts, truncation and error mapping once for all of them.
 *
 * - `provision` is called lazily, on the first tool call of a session that needs a sandbox, never
 *   at session start. It may be called again for the same session after a sandbox died: it must
 *   then continue from the same recipe (and, where the provider keeps one, the same workspace).
 * - `execute` runs one toolset call (`bash`, `read`, `write`, `edit`, `glob`, `grep`) with the
 *   input the model produced, unvalidated. It resolves to the text the model sees, or throws a
 *   `ToolError` whose message the model sees verbatim (`is_error: true`); any other throw is a
 *   provider failure that the router reports as `Error: <message>`. `signal` aborts the call
 *   (interrupt, timeout, shutdown) and must make it settle promptly.
 * - `dispose` releases everything the sandbox holds. Idempotent; `execute` after it throws.
 */
export interface SandboxProvider {
  readonly name: string;
  provision(recipe: SandboxRecipe): Promise<Sandbox>;
  /**
   * Optional: start, in the background, the slow part of a later `provision` that needs no sandbox
   * (installing the environment's packages), so a session's first tool call does not wait for it.
   * Never provisions; its failures are not reported here but by the `provision` that needs it.
   */
  prepare?(recipe: SandboxRecipe): Promise<void>;
  /** Optional: release what the provider holds besides sandboxes (e.g. a spare process). Idempotent. */
  close?(): Promise<void>;
}

export interface Sandbox {
  execute(name: string, input: Record<string, unknown>, options?: { signal?: AbortSignal }): Promise<string>;
  dispose(): Promise<void>;
  /** False once the sandbox is known to be gone (killed, timed out, exited): provision a new one. */
  readonly alive?: boolean;
}

/** What a sandbox is built from: the session it serves and what that session mounts. */
export interface SandboxRecipe {
  sessionId: string;
  workspaceId: string;
  environmentId: string;
  /**
   * Files to place at provision (the session's file resources). `mountPath` absolute: read-only at
   * that path in the sandbox (e.g. `/mnt/session/uploads/<file_id>`); under `/workspace`, or relative
   * (resolved against `/workspace`): a writable copy in the workspace.
   */
  files?: SandboxFile[];
  /**
   * The environment's packages (`config.packages`), by manager, in each manager's own syntax
   * (`pandas==2.2.0`). Installed before the sandbox is handed out and found on its PATH (and the
   * managers' search paths); a provider that cannot install them fails the provision, saying why.
   */
  packages?: EnvironmentPackages;
}

export type EnvironmentPackages = Partial<Record<'apt' | 'cargo' | 'gem' | 'go' | 'npm' | 'pip', string[] | null>>;

export interface SandboxFile {
  mountPath: string;
  content(): Promise<Buffer>;
}

/** A failure the model should see as the tool's own answer, verbatim. */
export class ToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolError';
  }
}
