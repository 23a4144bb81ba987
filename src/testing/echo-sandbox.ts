import { setTimeout as sleep } from 'node:timers/promises';
import { ToolError, type Sandbox, type SandboxProvider, type SandboxRecipe } from '../sandbox/interface.ts';

/** One recorded call to an echo sandbox. */
export interface EchoCall {
  sessionId: string;
  name: string;
  input: Record<string, unknown>;
}

/**
 * A sandbox provider for tests: every call answers `<name>: <JSON input>` and is recorded. Inputs
 * steer it: `{fail: "msg"}` throws a ToolError, `{crash: "msg"}` throws a plain Error (a provider
 * failure), `{sleep_ms: n}` waits n ms first (abortable), `{output_bytes: n}` answers n bytes.
 */
export class EchoSandboxProvider implements SandboxProvider {
  readonly name = 'echo';
  readonly calls: EchoCall[] = [];
  provisioned = 0;
  disposed = 0;

  async provision(recipe: SandboxRecipe): Promise<Sandbox> {
    this.provisioned++;
    let open = true;
    return {
      execute: async (name, input, options = {}) => {
        if (!open) throw new Error('sandbox disposed');
        this.calls.push({ sessionId: recipe.sessionId, name, input: structuredClone(input) });
        if (typeof input.sleep_ms === 'number') await sleep(input.sleep_ms, undefined, { signal: options.signal });
        if (typeof input.fail === 'string') throw new ToolError(input.fail);
        if (typeof input.crash === 'string') throw new Error(input.crash);
        if (typeof input.output_bytes === 'number') return 'x'.repeat(input.output_bytes);
        return `${name}: ${JSON.stringify(input)}`;
      },
      dispose: async () => {
        if (open) this.disposed++;
        open = false;
      },
    };
  }

  /** Calls made for one session, in order. */
  callsOf(sessionId: string): EchoCall[] {
    return this.calls.filter((call) => call.sessionId === sessionId);
  }
}
