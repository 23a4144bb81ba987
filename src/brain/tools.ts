import type { DisposeRecord } from '../sandbox/index.ts';
import { ToolError, type Sandbox, type SandboxProvider, type SandboxRecipe } from '../sandbox/interface.ts';
import type { SessionLog } from '../session/interface.ts';
import { SPAN } from './history.ts';

/**
 * Routes the agent toolset's calls to the session's sandbox, adding once for every provider: lazy
 * provisioning, a per-call timeout, output truncation with a marker, and the mapping of every
 * failure to a result the model sees. It never throws for a tool's failure: a brain must not
 * crash because a tool did.
 */

export interface ToolOutcome {
  text: string;
  isError: boolean;
  /** What it cost: kept with the result in the log (privately), for diagnosing a session from its log. */
  trace: { sandbox: string; provisionMs?: number; executeMs: number };
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
    const trace: ToolOutcome['trace'] = { sandbox: this.provider.name, executeMs: 0 };
    const outcome = (text: string, isError: boolean): ToolOutcome => ({ text, isError, trace });
    if (signal?.aborted) return outcome(`${name}: interrupted before it started`, true);
    let sandbox: Sandbox;
    try {
      // A sandbox that died (killed, timed out, restarted) is replaced: sandboxes are cattle.
      if (this.sandbox && (await this.sandbox.then((opened) => opened.alive === false, () => true))) await this.discard();
      if (!this.sandbox) {
        const started = performance.now();
        this.sandbox = this.provider.provision(this.recipe);
        await this.sandbox.finally(() => (trace.provisionMs = round(performance.now() - started))).catch(() => {});
      }
      sandbox = await this.sandbox;
    } catch (error) {
      this.sandbox = undefined;
      return outcome(`Error: the sandbox could not be started: ${messageOf(error)}`, true);
    }
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const started = performance.now();
    try {
      const output = await abortable(sandbox.execute(name, input, { signal: combined }), combined);
      return outcome(truncate(output === '' ? '(no output)' : output, this.options.maxOutputBytes), false);
    } catch (error) {
      if (signal?.aborted) return outcome(`${name}: interrupted`, true);
      if (timeout.aborted) return outcome(`${name}: timed out after ${this.options.timeoutMs} ms`, true);
      if (error instanceof ToolError) return outcome(truncate(error.message, this.options.maxOutputBytes), true);
      // The sandbox itself failed: it is cattle, the next call gets a fresh one.
      void this.discard();
      return outcome(`Error: ${messageOf(error)}`, true);
    } finally {
      trace.executeMs = round(performance.now() - started);
    }
  }

  /** Start what the first tool call will need (the environment's packages) while the model thinks; failures show at that call. */
  prepare() {
    this.provider.prepare?.(this.recipe).catch(() => {});
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

/**
 * A sandbox's end, kept in its session's log as an internal span (never shown to clients), next to
 * the provision and execute timings each tool result keeps: why it went, how long it lived, how long
 * disposing took. Appended outside any run (a reaped sandbox has no brain), so without a fence.
 */
export async function recordDispose(log: SessionLog, record: DisposeRecord) {
  const payload = { name: 'sandbox.dispose', sandbox: record.sandbox, reason: record.reason, lived_ms: record.livedMs, duration_ms: record.disposeMs };
  await log.append(record.sessionId, [{ type: SPAN, payload }]);
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

export function truncate(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  return `[output truncated: showing the last ${maxBytes} of ${bytes.length} bytes]\n${bytes.subarray(bytes.length - maxBytes).toString('utf8')}`;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
