import type { Command } from 'commander';
import { Previews } from '../brain/previews.ts';
import { startBrains } from '../brains.ts';
import { openSecrets } from '../vaults/master-key.ts';
import { loadConfig } from '../config.ts';
import { openDb } from '../db/index.ts';
import { OmaError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { openSessionLog } from '../session/index.ts';

/**
 * `oma worker`: brains only, no API, against the PostgreSQL that `oma serve` (and other workers) use.
 * Any number of them share the sessions through the wake leases; SIGTERM (or SIGINT) drains: running
 * turns finish within the grace period or hand their wake back, then it exits 0.
 */
export function registerWorkerCommand(program: Command) {
  program
    .command('worker')
    .description('run brains only (no API) against DATABASE_URL, sharing sessions with oma serve and other workers')
    .option('--grace <ms>', 'on SIGTERM, how long running turns may take to finish before they are handed back', '10000')
    .action(async (options: { grace: string }) => {
      const config = loadConfig();
      if (!config.databaseUrl) {
        throw new OmaError('invalid_request', 'oma worker needs DATABASE_URL (the PostgreSQL that oma serve uses): embedded PGlite can be opened by one process only, so run brains in oma serve instead');
      }
      if (config.brains === 0) throw new OmaError('invalid_request', 'oma worker runs brains: OMA_BRAINS must be at least 1');
      const logger = createLogger(config.logLevel);
      const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.databaseSchema, poolSize: config.databasePoolSize });
      const log = await openSessionLog(db);
      const brains = await startBrains(config, db, log, new Previews(), {}, logger, await openSecrets(config, db, logger));
      console.log(`oma worker ${process.pid}: ${config.brains} brains on ${db.description}; sandbox provider: ${config.sandbox}`);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) {
          console.error(`oma worker: ${signal} again, exiting now`);
          process.exit(130);
        }
        stopping = true;
        console.error(`oma worker: ${signal}, draining`);
        await brains.stop(Number(options.grace));
        await log.close();
        await db.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
    });
}
