import { createAdaptorServer } from '@hono/node-server';
import { rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import { createApp } from './api/app.ts';
import { Brain } from './brain/brain.ts';
import { Previews } from './brain/previews.ts';
import { Scheduler } from './brain/scheduler.ts';
import { recordDispose } from './brain/tools.ts';
import { AnthropicModel } from './model/anthropic.ts';
import type { Model } from './model/interface.ts';
import { openSandboxProvider, SandboxPool, type SandboxProvider } from './sandbox/index.ts';
import { seedKey } from './auth/keys.ts';
import type { Config } from './config.ts';
import { openDb } from './db/index.ts';
import type { Db } from './db/interface.ts';
import { openSessionLog, type SessionLog } from './session/index.ts';

/** In a PGlite data directory: `{pid, url}` of the server holding it. */
export const SERVER_FILE = 'server.json';

export interface RunningOma {
  /** `http://host:port`, with the port actually bound (useful with port 0). */
  url: string;
  db: Db;
  sessionLog: SessionLog;
  /** This process's brains (absent with `brains: 0`). */
  brain: Brain | undefined;
  /** Stop accepting, let in-flight requests finish (up to `graceMs`), then close the log and the database. */
  stop(graceMs?: number): Promise<void>;
}

/** What tests (and embedders) may swap: the model and the sandbox provider. */
export interface OmaParts {
  model?: Model;
  sandboxes?: SandboxProvider;
}

/** Everything `oma serve` runs, in-process: database, session log, HTTP API, brains. */
export async function startOma(config: Config, logger?: Logger, parts: OmaParts = {}): Promise<RunningOma> {
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.databaseSchema });
  let sessionLog: SessionLog | undefined;
  try {
    if (config.apiKey) {
      const seeded = await seedKey(db, config.apiKey);
      if (seeded.revoked_at) logger?.warn({ keyId: seeded.id }, 'OMA_API_KEY was revoked and stays revoked; set a new one');
    }
    sessionLog = await openSessionLog(db);
    const previews = new Previews();
    let brain: Brain | undefined;
    let scheduler: Scheduler | undefined;
    let sandboxes: SandboxProvider | undefined;
    if (config.brains > 0) {
      brain = new Brain({
        db,
        log: sessionLog,
        model: parts.model ?? new AnthropicModel(),
        sandboxes: (sandboxes = parts.sandboxes ?? openSandboxProvider(config.sandbox, { ...config.sandboxes, root: config.sandboxes.root })),
        owner: `${hostname()}:${process.pid}`,
        options: config.brain,
        previews,
        logger,
      });
      if (sandboxes instanceof SandboxPool) sandboxes.onDispose = (record) => recordDispose(sessionLog!, record);
      scheduler = new Scheduler(brain, { concurrency: config.brains, pollMs: db.kind === 'pglite' ? 200 : 500 }, logger);
    }
    const app = createApp({
      db,
      sessionLog,
      maxBodyBytes: config.maxBodyBytes,
      rateLimits: config.rateLimits,
      logger,
      previews,
      onWake: scheduler && (() => scheduler.poke()),
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
    scheduler?.start();
    let stopping: Promise<void> | undefined;
    return {
      url,
      db,
      sessionLog: log,
      brain,
      stop(graceMs = 10_000) {
        stopping ??= (async () => {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          // Long-lived responses (event streams) would hold the server open: cut them after the grace period.
          const cut = setTimeout(() => server.closeAllConnections(), graceMs);
          await scheduler?.stop(graceMs); // brains finish their turn, or hand their wake back
          if (sandboxes instanceof SandboxPool) await sandboxes.close();
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
