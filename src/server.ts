import { createAdaptorServer } from '@hono/node-server';
import { rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp } from './api/app.ts';
import type { Brain } from './brain/brain.ts';
import { Previews } from './brain/previews.ts';
import { startBrains, type BrainParts } from './brains.ts';
import { seedKey } from './auth/keys.ts';
import type { Config } from './config.ts';
import { openDb } from './db/index.ts';
import type { Db } from './db/interface.ts';
import { openSessionLog, type SessionLog } from './session/index.ts';
import type { SecretBox } from './vaults/crypto.ts';
import { openSecrets } from './vaults/master-key.ts';
import { startWorkSweeper } from './work/sweeper.ts';
import { failWorkerCalls, hasOpenWorkerCalls, LEASE_LOST_MESSAGE, sweepWorkerTimeouts } from './brain/worker-calls.ts';

/** In a PGlite data directory: `{pid, url}` of the server holding it. */
export const SERVER_FILE = 'server.json';

export interface RunningOma {
  /** `http://host:port`, with the port actually bound (useful with port 0). */
  url: string;
  db: Db;
  sessionLog: SessionLog;
  /** This process's brains (absent with `brains: 0`). */
  brain: Brain | undefined;
  /** Seals stored secrets; absent when there is no master key (credentials cannot be stored). */
  secrets?: SecretBox;
  /** Stop accepting, let in-flight requests finish (up to `graceMs`), then close the log and the database. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * What tests (and embedders) may swap: the model and the sandbox provider; and who hears of
 * self_hosted work items whose lease lapsed (see work/sweeper.ts).
 */
export type OmaParts = BrainParts & { onLeaseLost?: (sessionIds: string[], lapsedBy: Date) => Promise<void> };

/** Everything `oma serve` runs, in-process: database, session log, HTTP API, brains. */
export async function startOma(config: Config, logger?: Logger, parts: OmaParts = {}): Promise<RunningOma> {
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.databaseSchema, poolSize: config.databasePoolSize });
  let sessionLog: SessionLog | undefined;
  try {
    if (config.apiKey) {
      const seeded = await seedKey(db, config.apiKey);
      if (seeded.revoked_at) logger?.warn({ keyId: seeded.id }, 'OMA_API_KEY was revoked and stays revoked; set a new one');
    }
    const secrets = await openSecrets(config, db, logger);
    sessionLog = await openSessionLog(db);
    // Embedded, this process holds the data directory alone (its lock): leases still on record were
    // a killed predecessor's. Take them back now rather than after their time-to-live.
    if (db.kind === 'pglite') await db.query('UPDATE session_wakes SET leased_by = NULL, leased_until = NULL WHERE leased_until IS NOT NULL');
    const previews = new Previews();
    const brains = config.brains > 0 ? await startBrains(config, db, sessionLog, previews, parts, logger, secrets) : undefined;
    const app = createApp({
      db,
      sessionLog,
      maxBodyBytes: config.maxBodyBytes,
      rateLimits: config.rateLimits,
      logger,
      previews,
      onWake: brains?.poke,
      secrets,
      workTtlSeconds: config.workTtlSeconds,
    });
    const server = createAdaptorServer({ fetch: app.fetch, hostname: config.host }) as Server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const log = sessionLog;
    const url = `http://${host}:${port}`;
    // Tell other oma commands on this PGlite directory (which they may not open) where to find us.
    const serverFile = db.kind === 'pglite' ? join(config.dataDir, SERVER_FILE) : undefined;
    if (serverFile) writeFileSync(serverFile, JSON.stringify({ pid: process.pid, url }), { mode: 0o600 });
    // Self-hosted work items whose worker stopped heartbeating go back to the queue, once their
    // unanswered tool calls are closed with errors; calls no worker answered in time are closed too.
    const sweeper = startWorkSweeper({
      db,
      ttlSeconds: config.workTtlSeconds,
      logger,
      onLeaseLost:
        parts.onLeaseLost ?? (async (sessionIds, lapsedBy) => void (await Promise.all(sessionIds.map((id) => failWorkerCalls(log, id, LEASE_LOST_MESSAGE, { createdBefore: lapsedBy }))))),
      waiting: (sessionId) => hasOpenWorkerCalls(db, sessionId),
      afterSweep: () => sweepWorkerTimeouts(db, log, config.brain.workerToolTimeoutMs),
    });
    let stopping: Promise<void> | undefined;
    return {
      url,
      db,
      sessionLog: log,
      brain: brains?.brain,
      secrets,
      stop(graceMs = 10_000) {
        stopping ??= (async () => {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          // Long-lived responses (event streams) would hold the server open: cut them after the grace period.
          const cut = setTimeout(() => server.closeAllConnections(), graceMs);
          await sweeper.stop();
          await brains?.stop(graceMs); // brains finish their turn, or hand their wake back
          await log.close(); // ends every subscription, so streams finish on their own
          await closed;
          clearTimeout(cut);
          if (serverFile) rmSync(serverFile, { force: true });
          await db.close();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await sessionLog?.close();
    await db.close();
    throw error;
  }
}
