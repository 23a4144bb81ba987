import Anthropic from '@anthropic-ai/sdk';
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sandboxDemo } from '../../examples/sandbox-demo.ts';
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { AnthropicModel } from '../model/anthropic.ts';
import { startOma } from '../server.ts';
import { loadScript, ScriptedModel } from '../testing/scripted-model.ts';

const SCRIPT = fileURLToPath(new URL('../../examples/sandbox-demo-script.json', import.meta.url));

/**
 * `oma demo`: oma on embedded PGlite (or DATABASE_URL) with bubblewrap sandboxes, and a turn of the
 * official SDK against it in which the agent writes and runs a program in its sandbox. The model is
 * scripted unless ANTHROPIC_API_KEY is set. The server keeps running afterwards, for a look around.
 */
export function registerDemoCommand(program: Command) {
  program
    .command('demo')
    .description('run oma and a demo turn against it: the agent writes and runs a program in its sandbox (scripted model unless ANTHROPIC_API_KEY is set)')
    .option('--exit', 'stop the server after the demo instead of keeping it running')
    .action(async (options: { exit?: boolean }) => {
      const apiKey = process.env.OMA_API_KEY || `sk-oma-demo-${randomBytes(18).toString('base64url')}`;
      const config = loadConfig({ ...process.env, OMA_API_KEY: apiKey });
      const real = Boolean(process.env.ANTHROPIC_API_KEY);
      console.log(real ? 'model: Claude (ANTHROPIC_API_KEY is set)' : `model: SCRIPTED DEMO — replaying ${SCRIPT}; set ANTHROPIC_API_KEY to use Claude`);
      // Scripted: each session replays the script from its start (the step is the number of answers so far).
      const steps = loadScript(SCRIPT);
      const scripted = new ScriptedModel((request) => steps[Math.min(request.messages.filter((message) => message.role === 'assistant').length, steps.length - 1)]!);
      const oma = await startOma(config, createLogger(config.logLevel), { model: real ? new AnthropicModel() : scripted });
      console.log(`oma listening on ${oma.url} (${oma.db.description}; sandboxes: ${config.sandbox}, workspaces in ${config.sandboxes.root})`);
      const stop = async () => {
        await oma.stop(2_000);
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
      try {
        const { session } = await sandboxDemo(new Anthropic({ baseURL: oma.url, apiKey }), (line) => console.log(line));
        console.log(`
Where to look next:
  the workspace:      ${workspaceHint(config.sandboxes.root, session.id)}
  the session's log:  curl -s ${oma.url}/v1/sessions/${session.id}/events -H "x-api-key: ${apiKey}" -H "anthropic-beta: managed-agents-2026-04-01"
  again, as a client:  OMA_URL=${oma.url} OMA_API_KEY=${apiKey} npx tsx examples/sandbox-demo.ts`);
      } catch (error) {
        console.error(`oma demo: ${(error as Error).message}`);
        if (options.exit) process.exitCode = 1;
      }
      if (options.exit) await stop();
      else console.log('\noma keeps running (Ctrl-C stops it).');
    });
}

function workspaceHint(root: string, sessionId: string): string {
  const image = `${join(root, sessionId)}.ext4`;
  return existsSync(image) ? `${image} (an ext4 image, mounted only inside the sandbox; mount -o loop ${image} /mnt to look)` : join(root, sessionId);
}
