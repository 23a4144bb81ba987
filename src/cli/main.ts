import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { isOmaError } from '../errors.ts';
import { registerFakeModelCommand } from './fake-model.ts';
import { registerKeyCommands, registerWorkspaceCommands } from './keys.ts';
import { registerServeCommand } from './serve.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('oma')
  .description('Open Managed Agents: a self-hostable server for long-running agents, speaking the Claude Managed Agents API')
  .version(version)
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Environment:
  PORT, HOST          listen address (default 127.0.0.1:8080)
  DATABASE_URL        postgres://… to use PostgreSQL; unset = embedded PGlite in OMA_DATA_DIR
  OMA_DB_SCHEMA       PostgreSQL schema for oma's tables (default public)
  OMA_DATA_DIR        PGlite directory (default ./.oma)
  OMA_API_KEY         seeds an admin API key of workspace "default"
  OMA_SANDBOX         bubblewrap (default) or process (development only)
  OMA_RATE_LIMIT_CREATE, OMA_RATE_LIMIT_READ   default per-workspace requests per minute (600, 6000; 0 = unlimited)
  OMA_MAX_BODY_BYTES, OMA_MAX_EVENT_BYTES, OMA_MAX_FILE_BYTES   size limits (32 MiB, 8 MiB, 100 MiB)
  OMA_URL             where \`oma keys\` finds a server holding OMA_DATA_DIR (default: the address it wrote there)`,
  );

registerServeCommand(program);
registerKeyCommands(program);
registerWorkspaceCommands(program);
registerFakeModelCommand(program);

program.exitOverride();
try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  console.error(`oma: ${isOmaError(error) ? error.message : (error as Error).stack ?? String(error)}`);
  process.exit(1);
}
