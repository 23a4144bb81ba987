import type { SandboxProvider } from './interface.ts';

export type * from './interface.ts';
export { ToolError } from './interface.ts';

/**
 * The provider named by `OMA_SANDBOX`. Sandboxes are built by the Hands work (bubblewrap, process);
 * until a provider exists, its tool calls fail with a tool error the model sees, and sessions that
 * use no sandbox tool (custom tools only) run normally.
 */
export function openSandboxProvider(name: string): SandboxProvider {
  return {
    name,
    async provision() {
      throw new Error(`the ${name} sandbox provider is not available in this build of oma; agent toolset tools cannot run yet`);
    },
  };
}
