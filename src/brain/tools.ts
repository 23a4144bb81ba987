import { ToolError, type Sandbox, type SandboxProvider, type SandboxRecipe } from '../sandbox/interface.ts';

/**
 * Routes the agent toolset's calls to the session's sandbox, adding once for every provider: lazy
 * provisioning, a per-call timeout, output truncation with a marker, and the mapping of every
 * failure to a result the model sees. It never throws for a tool's failure: a brain must not
 * crash because a tool did.
 */

export interface ToolOutcome {
  text: string;
  isError: boolean;
}

export interface ToolRouterOptions {
  timeoutMs: number;
  /** Longer output keeps its last `maxOutputBytes` bytes, after a marker saying so. */
  maxOutputBytes: number;
}

export class ToolRouter {
  private sandbox: Promise<Sandbox> | undefined;

  constructor(
    private readonly provider: SandboxProvider,
    private readonly recipe: SandboxRecipe,
    private readonly options: ToolRouterOptions,
  ) {}

  async execute(name: string, input: Record<string, unknown>, signal?: AbortSignal): Promise<ToolOutcome> {
    if (signal?.aborted) return { text: `${name}: interrupted before it started`, isError: true };
    let sandbox: Sandbox;
    try {
      // A sandbox that died (killed, timed out, restarted) is replaced: sandboxes are cattle.
      if (this.sandbox && (await this.sandbox.then((opened) => opened.alive === false, () => true))) await this.discard();
      this.sandbox ??= this.provider.provision(this.recipe);
      sandbox = await this.sandbox;
    } catch (error) {
      this.sandbox = undefined;
      return { text: `Error: the sandbox could not be started: ${messageOf(error)}`, isError: true };
    }
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      const output = await abortable(sandbox.execute(name, input, { signal: combined }), combined);
      return { text: truncate(output === '' ? '(no output)' : output, this.options.maxOutputBytes), isError: false };
    } catch (error) {
      if (signal?.aborted) return { text: `${name}: interrupted`, isError: true };
      if (timeout.aborted) return { text: `${name}: timed out after ${this.options.timeoutMs} ms`, isError: true };
      if (error instanceof ToolError) return { text: truncate(error.message, this.options.maxOutputBytes), isError: true };
      // The sandbox itself failed: it is cattle, the next call gets a fresh one.
      void this.discard();
      return { text: `Error: ${messageOf(error)}`, isError: true };
    }
  }

  async dispose() {
    await this.discard();
  }

  private async discard() {
    const sandbox = this.sandbox;
    this.sandbox = undefined;
    await sandbox?.then((opened) => opened.dispose()).catch(() => {});
  }
}

/** Settle as soon as `signal` aborts, even if the provider is slow to notice. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function truncate(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  return `[output truncated: showing the last ${maxBytes} of ${bytes.length} bytes]\n${bytes.subarray(bytes.length - maxBytes).toString('utf8')}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
