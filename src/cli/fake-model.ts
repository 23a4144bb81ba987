import { type Command, InvalidArgumentError } from 'commander';
import { startFakeModelServer } from '../testing/fake-model-server.ts';
import { loadScript, ScriptedModel, type ScriptStep } from '../testing/scripted-model.ts';

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('a port is an integer from 0 to 65535');
  return port;
}

/** `oma fake-model`: a scripted stand-in for the Messages API, for offline demos and tests of a spawned oma. */
export function registerFakeModelCommand(program: Command) {
  program
    .command('fake-model')
    .description('serve a scripted fake of the Messages API (point oma at it with ANTHROPIC_BASE_URL)')
    .requiredOption('-s, --script <file>', 'JSON script: an array of responses, or {"steps": [...]} (see examples/fake-model-script.json)')
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', parsePort, 8090)
    .option('-H, --host <host>', 'address to listen on', '127.0.0.1')
    .option('--when-exhausted <behaviour>', 'after the last response: error (a 400 answer) or end_turn (an empty turn)', 'error')
    .action(async (options: { script: string; port: number; host: string; whenExhausted: string }) => {
      const fail = (message: string): never => {
        console.error(`oma fake-model: ${message}`);
        process.exit(1);
      };
      if (options.whenExhausted !== 'error' && options.whenExhausted !== 'end_turn') fail(`--when-exhausted must be error or end_turn, not "${options.whenExhausted}"`);
      let steps: ScriptStep[] = [];
      try {
        steps = loadScript(options.script);
      } catch (error) {
        fail((error as Error).message);
      }
      const model = new ScriptedModel(steps, { whenExhausted: options.whenExhausted as 'error' | 'end_turn' });
      const server = await startFakeModelServer({ model, port: options.port, host: options.host }).catch((error: Error) =>
        fail(`cannot listen on ${options.host}:${options.port}: ${error.message}`),
      );
      let stopping = false;
      const stop = async () => {
        if (stopping) process.exit(130);
        stopping = true;
        await server.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop());
      process.on('SIGINT', () => void stop());
      console.log(`fake model listening on ${server.url} (${steps.length} scripted responses)`);
    });
}
