import type { EgressDecision } from './egress.ts';
import type { GitOperation } from './git-proxy.ts';

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
  /**
   * The session's way out: an egress proxy on the host letting through only `allowedHosts` (entries
   * as `EgressPolicy` takes them; `*` = any public host). Absent: the sandbox has no network at all.
   */
  egress?: { allowedHosts: string[] };
  /** Repositories cloned into the workspace at provision, reached through the host's git proxy (which alone holds their tokens). */
  repositories?: SandboxRepository[];
  /** Told what happened on the sandbox's ways out (git operations, refused connections, clones that failed), for the session's log. */
  onNotice?: (notice: SandboxNotice) => void;
  /** Set by `HostServices` for the provider: the host directory holding the services' sockets, and which ones it holds. */
  services?: SandboxServices;
}

export interface SandboxRepository {
  resourceId: string;
  url: string;
  /** Absolute, or relative to /workspace. */
  mountPath: string;
  checkout: { type: 'branch'; name: string } | { type: 'commit'; sha: string } | null;
  /** The token as it is now: read at every git operation, so a rotated one applies from the next on. Null: none; undefined: the resource was removed. */
  token(): Promise<string | null | undefined>;
}

export interface SandboxServices {
  socketDir: string;
  egress: boolean;
  git: boolean;
}

/** Spec §9.4: what a failed clone is reported as. */
export type RepositoryErrorType = 'repository_authentication_error' | 'repository_forbidden_error' | 'repository_not_found_error' | 'repository_checkout_error' | 'repository_clone_error';

export type SandboxNotice =
  | { type: 'git'; operation: GitOperation }
  | { type: 'egress_refused'; decision: EgressDecision }
  | { type: 'repository_error'; errorType: RepositoryErrorType; resourceId: string; url: string; message: string };

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
