import { resolve } from 'node:path';
import { OmaError } from './errors.ts';

/** Everything oma reads from its environment, parsed and checked once at start. */
export interface Config {
  port: number;
  host: string;
  /** Set: PostgreSQL. Unset: embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  /** PostgreSQL schema oma keeps its tables in (`OMA_DB_SCHEMA`, default `public`). */
  databaseSchema: string | undefined;
  dataDir: string;
  /** Seeds an admin key of workspace `default`. */
  apiKey: string | undefined;
  sandbox: 'bubblewrap' | 'process';
  /** Largest accepted request body. */
  maxBodyBytes: number;
  /** Default per-workspace request limits per minute (0 = unlimited); workspaces may override them. */
  rateLimits: { createPerMinute: number; readPerMinute: number };
  logLevel: string;
}

function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new OmaError('invalid_request', `${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return parsed;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const sandbox = env.OMA_SANDBOX || 'bubblewrap';
  if (sandbox !== 'bubblewrap' && sandbox !== 'process') {
    throw new OmaError('invalid_request', `OMA_SANDBOX must be bubblewrap or process, not ${JSON.stringify(sandbox)}`);
  }
  return {
    port: integer('PORT', env.PORT, 8080, 0, 65535),
    host: env.HOST || '127.0.0.1',
    databaseUrl: env.DATABASE_URL || undefined,
    databaseSchema: env.OMA_DB_SCHEMA || undefined,
    dataDir: resolve(env.OMA_DATA_DIR || '.oma'),
    apiKey: env.OMA_API_KEY || undefined,
    sandbox,
    maxBodyBytes: integer('OMA_MAX_BODY_BYTES', env.OMA_MAX_BODY_BYTES, 32 * 1024 * 1024, 1024, 1024 ** 3),
    rateLimits: {
      createPerMinute: integer('OMA_RATE_LIMIT_CREATE', env.OMA_RATE_LIMIT_CREATE, 600, 0, 1e9),
      readPerMinute: integer('OMA_RATE_LIMIT_READ', env.OMA_RATE_LIMIT_READ, 6000, 0, 1e9),
    },
    logLevel: env.OMA_LOG_LEVEL || 'info',
    ...overrides,
  };
}
