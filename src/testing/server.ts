import Anthropic from '@anthropic-ai/sdk';
import { rmSync } from 'node:fs';
import type { BrainOptions } from '../brain/options.ts';
import { loadConfig, type Config } from '../config.ts';
import { startOma, type OmaParts, type RunningOma } from '../server.ts';
import { freshPgliteDir, freshPostgres } from './databases.ts';

/** Config overrides; `brain` options are merged into the defaults one by one. */
export type TestConfig = Partial<Omit<Config, 'brain'>> & { brain?: Partial<BrainOptions> };

export const TEST_API_KEY = 'sk-oma-test-admin-key-0123456789';
/** The master key of test servers on PostgreSQL (embedded ones generate theirs in their data directory). */
export const TEST_MASTER_KEY = '0f'.repeat(32);

export interface TestOma extends RunningOma {
  /** The official SDK pointed at this server with the seeded admin key, retries off. */
  client: Anthropic;
  /** Stop the server and delete its storage. */
  dispose(): Promise<void>;
}

/**
 * A whole oma server on a loopback port, on a fresh PGlite (default) or a fresh PostgreSQL schema.
 * Brains run only when a `model` is given (then with fast retries unless `config.brain` says otherwise).
 */
export async function startTestOma(options: { storage?: 'pglite' | 'postgres'; config?: TestConfig } & OmaParts = {}): Promise<TestOma> {
  const brainConfig = (options.model
    ? { brains: 4, ...options.config, brain: { ...loadConfig({}).brain, retryBaseMs: 10, retryMaxMs: 50, leaseTtlMs: 5_000, ...options.config?.brain } }
    : { brains: 0, ...options.config }) as Partial<Config>;
  let cleanup: () => Promise<void>;
  let config: Config;
  if (options.storage === 'postgres') {
    const pg = freshPostgres();
    config = loadConfig({}, { port: 0, apiKey: TEST_API_KEY, masterKey: TEST_MASTER_KEY, databaseUrl: pg.url, databaseSchema: pg.schema, ...brainConfig });
    cleanup = pg.drop;
  } else {
    const dir = await freshPgliteDir();
    config = loadConfig({}, { port: 0, apiKey: TEST_API_KEY, dataDir: dir, ...brainConfig });
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
  const oma = await startOma(config, undefined, { model: options.model, sandboxes: options.sandboxes, onLeaseLost: options.onLeaseLost });
  const client = new Anthropic({ baseURL: oma.url, apiKey: TEST_API_KEY, maxRetries: 0 });
  return {
    ...oma,
    client,
    async dispose() {
      await oma.stop(1_000);
      await cleanup();
    },
  };
}
