import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.ts';
import { createLogger } from '../logger.ts';
import { cgroupSupport, diskQuotaSupport } from '../sandbox/index.ts';
import { startOma, type RunningOma } from '../server.ts';

export function registerServeCommand(program: Command) {
  program
    .command('serve')
    .description('run the API server (and, as they land, the scheduler and brains) in one process')
    .option('-p, --port <port>', 'port to listen on (env PORT, default 8080)')
    .option('-H, --host <host>', 'address to listen on (env HOST, default 127.0.0.1)')
    .action(async (options: { port?: string; host?: string }) => {
      const config = loadConfig({ ...process.env, ...(options.port ? { PORT: options.port } : {}), ...(options.host ? { HOST: options.host } : {}) });
      const logger = createLogger(config.logLevel);

      // Signals are handled from the first moment: one that arrives during start-up stops oma
      // cleanly as soon as it has started (so the data directory lock is always released).
      let oma: RunningOma | undefined;
      let stopRequested: string | undefined;
      const stop = async (signal: string) => {
        console.error(`oma: ${signal}, shutting down`);
        await oma!.stop();
        process.exit(0);
      };
      const onSignal = (signal: string) => {
        if (stopRequested) {
          console.error(`oma: ${signal} again, exiting now`);
          process.exit(130);
        }
        stopRequested = signal;
        if (oma) void stop(signal);
      };
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      process.on('SIGINT', () => onSignal('SIGINT'));

      if (config.sandbox === 'process') console.error(PROCESS_WARNING);
      if (!config.databaseUrl) console.error(`oma: opening embedded PGlite in ${config.dataDir} (a first start takes a few seconds)`);
      oma = await startOma(config, logger);
      // One write: whoever reads the banner (a person, a script, a test) gets all of it at once.
      console.log(banner(config, oma).join('\n'));
      if (stopRequested) await stop(stopRequested);
    });
}

const PROCESS_WARNING = [
  '',
  "oma: WARNING ************************************************************************",
  "oma: WARNING OMA_SANDBOX=process runs the agent's commands as this user, UNSANDBOXED: they can",
  'oma: WARNING read and change everything oma can, its environment and model key included.',
  'oma: WARNING Development only. Use the default, OMA_SANDBOX=bubblewrap, for anything else.',
  "oma: WARNING ************************************************************************",
  '',
].join('\n');

function banner(config: Config, oma: RunningOma): string[] {
  const lines = [`oma listening on ${oma.url}`, `database: ${oma.db.description}`, `sandbox provider: ${config.sandbox}; workspaces in ${config.sandboxes.root}`];
  if (config.sandbox !== 'process') {
    const cgroups = cgroupSupport();
    const { memoryBytes, pids, cpus } = config.sandboxes.limits;
    lines.push(
      cgroups.version === 0
        ? `sandbox limits: per-call wall clock only — no cgroups (${cgroups.reason}); memory, process and CPU limits are NOT in force`
        : `sandbox limits: cgroup v${cgroups.version} ${cgroups.controllers.join(', ')}: memory ${Math.round(memoryBytes / 1024 / 1024)} MiB, ${pids} processes, ${cpus} CPU; per-call wall clock`,
      workspaceLimit(config.sandboxes.limits.diskBytes),
    );
  }
  const modelAt = process.env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com';
  const keyMissing = process.env.ANTHROPIC_API_KEY || process.env.ANTHROPIC_AUTH_TOKEN ? '' : ' (ANTHROPIC_API_KEY is not set: model calls will fail)';
  lines.push(config.brains > 0 ? `brains: ${config.brains} at once; model at ${modelAt}${keyMissing}` : 'brains: none (OMA_BRAINS=0): this process serves the API only');
  lines.push(config.apiKey ? 'API key: OMA_API_KEY (workspace default, admin)' : 'API key: none seeded (set OMA_API_KEY, or run `oma keys create`)');
  return lines;
}

function workspaceLimit(diskBytes: number): string {
  if (diskBytes === 0) return 'workspace size: not limited (OMA_SANDBOX_DISK_MB=0): a sandbox can fill the disk its workspace is on';
  const quota = diskQuotaSupport();
  return quota.supported
    ? `workspace size: ${Math.round(diskBytes / 1024 / 1024)} MiB each (an ext4 image per session, sparse)`
    : `workspace size: NOT limited (${quota.reason}): a sandbox can fill the disk its workspace is on`;
}
