import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { isOmaError } from '../errors.ts';
import { registerFakeModelCommand } from './fake-model.ts';
import { registerDemoCommand } from './demo.ts';
import { registerWorkerCommand } from './worker.ts';
import { registerKeyCommands, registerWorkspaceCommands } from './keys.ts';
import { registerEnvironmentCommands } from './environments.ts';
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
  OMA_DB_POOL_SIZE    PostgreSQL connections per process (default 16, plus one listening for wakes)
  OMA_DATA_DIR        PGlite directory (default ./.oma)
  OMA_API_KEY         seeds an admin API key of workspace "default"
  OMA_SANDBOX         bubblewrap (default) or process (development only; refused with OMA_MASTER_KEY set)
  OMA_SANDBOX_MEMORY_MB, OMA_SANDBOX_PIDS, OMA_SANDBOX_CPUS   per sandbox, by cgroup (1024, 512, 1)
  OMA_SANDBOX_MAX_FILE_MB, OMA_SANDBOX_TMP_MB   largest file, size of /tmp (1024, 256)
  OMA_SANDBOX_DISK_MB  size of each session's workspace, an ext4 image (default 4096; 0 = a plain directory)
  OMA_SANDBOX_IDLE_MS  an idle sandbox is disposed after this long; its workspace stays (default 600000)
  OMA_WORKSPACES_DIR, OMA_PACKAGES_DIR   where workspaces and installed environment packages live (in OMA_DATA_DIR)
  OMA_NPM_REGISTRY, OMA_PIP_INDEX_URL, OMA_GOPROXY   package mirrors for environments' packages
  OMA_PACKAGE_HOSTS   more hosts the package installer may reach (comma-separated host[:port])
  OMA_PACKAGES_TIMEOUT_MS   an environment's package install fails after this long (default 900000)
  OMA_UNRESTRICTED_NETWORKING   what environments with unrestricted networking reach: none (default) or public
                      (any public host through the egress proxy); limited networking always gets its allowed_hosts
  OMA_MASTER_KEY      32 bytes (base64 or hex) sealing vault credentials and repository tokens; required with
                      DATABASE_URL to store them (the same on every process); embedded mode generates one in OMA_DATA_DIR
  OMA_RATE_LIMIT_CREATE, OMA_RATE_LIMIT_READ   default per-workspace requests per minute (600, 6000; 0 = unlimited)
  OMA_MAX_BODY_BYTES, OMA_MAX_EVENT_BYTES, OMA_MAX_FILE_BYTES   size limits (32 MiB, 8 MiB, 100 MiB)
  OMA_URL             where \`oma keys\` and \`oma environments\` find a server holding OMA_DATA_DIR (default: the address it wrote there)
  ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL   the model the brains call (\`oma fake-model\` serves a scripted one)
  OMA_BRAINS          sessions one process runs at once (default 4 per core; 0 = API only)
  OMA_MAX_TOOL_CALLS_PER_TURN   tool calls per turn before tool_use_limit_reached_error (default 500)
  OMA_MODEL_MAX_ATTEMPTS, OMA_MODEL_RETRY_BASE_MS, OMA_MODEL_RETRY_MAX_MS   model retries (5 attempts, 1 s doubling, 30 s cap)
  OMA_MAX_TOKENS      max_tokens of each model request (default 16384)
  OMA_LEASE_TTL_MS    a brain's lease on a session, renewed every third of it (default 15000)
  OMA_MAX_WAKE_ATTEMPTS   brains dying on a session without progress this often end its turn (default 5)
  OMA_WAKE_POLL_MS    idle brains look for wakes no notification announced (default 200 embedded, 500 PostgreSQL)
  OMA_TOOL_TIMEOUT_MS, OMA_MAX_TOOL_OUTPUT_BYTES   per tool call (10 min; 100 KiB, the end kept)
  OMA_WORK_TTL_SECONDS   a self_hosted work item's lease: a worker that does not heartbeat within it loses the item (default 120)
  OMA_WORKER_TOOL_TIMEOUT_MS   a self_hosted session's tool call its worker has not answered becomes a tool error (15 min)`,
  );

registerServeCommand(program);
registerKeyCommands(program);
registerWorkspaceCommands(program);
registerEnvironmentCommands(program);
registerFakeModelCommand(program);
registerDemoCommand(program);
registerWorkerCommand(program);

program.exitOverride();
try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  console.error(`oma: ${isOmaError(error) ? error.message : (error as Error).stack ?? String(error)}`);
  process.exit(1);
}
