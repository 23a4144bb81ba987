import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { startOma } from '../server.ts';

export function registerServeCommand(program: Command) {
  program
    .command('serve')
    .description('run the API server (and, as they land, the scheduler and brains) in one process')
    .option('-p, --port <port>', 'port to listen on (env PORT, default 8080)')
    .option('-H, --host <host>', 'address to listen on (env HOST, default 127.0.0.1)')
    .action(async (options: { port?: string; host?: string }) => {
      const config = loadConfig({ ...process.env, ...(options.port ? { PORT: options.port } : {}), ...(options.host ? { HOST: options.host } : {}) });
      const logger = createLogger(config.logLevel);
      const oma = await startOma(config, logger);
      console.log(`oma listening on ${oma.url}`);
      console.log(`database: ${oma.db.description}`);
      console.log(`sandbox provider: ${config.sandbox}`);
      console.log(config.apiKey ? 'API key: OMA_API_KEY (workspace default, admin)' : 'API key: none seeded (set OMA_API_KEY, or run `oma keys create`)');

      let signals = 0;
      const shutdown = async (signal: string) => {
        if (++signals > 1) {
          console.error(`oma: ${signal} again, exiting now`);
          process.exit(130);
        }
        console.error(`oma: ${signal}, shutting down`);
        await oma.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => void shutdown('SIGTERM'));
      process.on('SIGINT', () => void shutdown('SIGINT'));
    });
}
