import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrainOptions } from './brain/options.ts';
import { DEFAULT_BRAIN_OPTIONS } from './brain/options.ts';
import { DEFAULT_CONTEXT, parseFraction, parseStrategy, parseWindow } from './context/settings.ts';
import { OmaError } from './errors.ts';

/** Everything oma reads from its environment, parsed and checked once at start. */
export interface Config {
  port: number;
  host: string;
  /** Set: PostgreSQL. Unset: embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  /** PostgreSQL schema oma keeps its tables in (`OMA_DB_SCHEMA`, default `public`). */
  databaseSchema: string | undefined;
  /** PostgreSQL connections this process may hold (`OMA_DB_POOL_SIZE`, default 16; one more listens for wakes). */
  databasePoolSize: number;
  dataDir: string;
  /** Seeds an admin key of workspace `default`. */
  apiKey: string | undefined;
  /** `OMA_MASTER_KEY`: seals vault credentials and repository tokens (see vaults/master-key.ts). */
  masterKey: string | undefined;
  sandbox: 'bubblewrap' | 'process';
  /** Sandboxes: where workspaces live, per-sandbox limits, idle time before one is reaped. */
  sandboxes: {
    root: string;
    limits: { memoryBytes: number; pids: number; cpus: number; fileBytes: number; tmpBytes: number; diskBytes: number };
    idleMs: number;
    /** The environments' packages: cache directory, install timeout, mirrors and the hosts the installer may reach. */
    packages: { dir: string; timeoutMs: number; allowedHosts: string[]; env: Record<string, string> };
  };
  /** Largest accepted request body. */
  maxBodyBytes: number;
  /** Default per-workspace request limits per minute (0 = unlimited); workspaces may override them. */
  rateLimits: { createPerMinute: number; readPerMinute: number };
  logLevel: string;
  /** Sessions this process runs at once (`OMA_BRAINS`; 0 = run no brains, API only). */
  brains: number;
  /** How often idle brains look for due wakes that no notification announced (`OMA_WAKE_POLL_MS`; default 200 embedded, 500 on PostgreSQL). */
  wakePollMs: number;
  /** Lease of a self_hosted work item: granted at ack, extended by each heartbeat (`OMA_WORK_TTL_SECONDS`, default 60). */
  workTtlSeconds: number;
  brain: BrainOptions;
}

/** Settings that turn on credential features (vaults, git and MCP credentials), which the process provider refuses. */
const CREDENTIAL_SETTINGS = ['OMA_MASTER_KEY'];

/**
 * Packages: mirrors for the managers (`OMA_NPM_REGISTRY`, `OMA_PIP_INDEX_URL`, `OMA_GOPROXY`), whose
 * hosts the installer may then reach (loopback too: named literally), and `OMA_PACKAGE_HOSTS`, more
 * hosts for it (comma-separated).
 */
function packageSettings(env: NodeJS.ProcessEnv): Config['sandboxes']['packages'] {
  const mirrors: [string, string | undefined][] = [
    ['npm_config_registry', env.OMA_NPM_REGISTRY],
    ['PIP_INDEX_URL', env.OMA_PIP_INDEX_URL],
    ['GOPROXY', env.OMA_GOPROXY],
  ];
  const given = mirrors.filter((entry): entry is [string, string] => Boolean(entry[1]));
  const hosts = given.map(([name, url]) => {
    try {
      return new URL(url).host;
    } catch {
      throw new OmaError('invalid_request', `the package mirror for ${name} must be a URL`); // never echoed: it may hold a token
    }
  });
  return {
    dir: '', // below: under the data directory unless OMA_PACKAGES_DIR says otherwise
    timeoutMs: integer('OMA_PACKAGES_TIMEOUT_MS', env.OMA_PACKAGES_TIMEOUT_MS, 15 * 60_000, 1_000, 86_400_000),
    allowedHosts: [...hosts, ...(env.OMA_PACKAGE_HOSTS ?? '').split(',').map((host) => host.trim()).filter(Boolean)],
    env: Object.fromEntries(given),
  };
}

function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new OmaError('invalid_request', `${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return parsed;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === '') return fallback;
  if (!allowed.includes(value as T)) throw new OmaError('invalid_request', `${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`);
  return value as T;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const sandbox = env.OMA_SANDBOX || 'bubblewrap';
  if (sandbox !== 'bubblewrap' && sandbox !== 'process') {
    throw new OmaError('invalid_request', `OMA_SANDBOX must be bubblewrap or process, not ${JSON.stringify(sandbox)}`);
  }
  // The process provider gives the agent's commands oma's own view of the machine: never where oma holds credentials for others.
  const credentials = CREDENTIAL_SETTINGS.filter((name) => env[name]);
  if (sandbox === 'process' && credentials.length > 0) {
    throw new OmaError('invalid_request', `OMA_SANDBOX=process cannot be used with credential features configured (${credentials.join(', ')}): its commands could read them. Use bubblewrap.`);
  }
  const config: Config = {
    port: integer('PORT', env.PORT, 8080, 0, 65535),
    host: env.HOST || '127.0.0.1',
    databaseUrl: env.DATABASE_URL || undefined,
    databaseSchema: env.OMA_DB_SCHEMA || undefined,
    databasePoolSize: integer('OMA_DB_POOL_SIZE', env.OMA_DB_POOL_SIZE, 16, 2, 10_000),
    dataDir: resolve(env.OMA_DATA_DIR || '.oma'),
    apiKey: env.OMA_API_KEY || undefined,
    masterKey: env.OMA_MASTER_KEY || undefined,
    sandbox,
    sandboxes: {
      root: '', // below: under the data directory unless OMA_WORKSPACES_DIR says otherwise
      limits: {
        memoryBytes: integer('OMA_SANDBOX_MEMORY_MB', env.OMA_SANDBOX_MEMORY_MB, 1024, 16, 1024 * 1024) * 1024 * 1024,
        pids: integer('OMA_SANDBOX_PIDS', env.OMA_SANDBOX_PIDS, 512, 8, 1_000_000),
        cpus: integer('OMA_SANDBOX_CPUS', env.OMA_SANDBOX_CPUS, 1, 1, 1024),
        fileBytes: integer('OMA_SANDBOX_MAX_FILE_MB', env.OMA_SANDBOX_MAX_FILE_MB, 1024, 1, 1024 * 1024) * 1024 * 1024,
        tmpBytes: integer('OMA_SANDBOX_TMP_MB', env.OMA_SANDBOX_TMP_MB, 256, 1, 1024 * 1024) * 1024 * 1024,
        diskBytes: integer('OMA_SANDBOX_DISK_MB', env.OMA_SANDBOX_DISK_MB, 4096, 0, 1024 * 1024 * 1024) * 1024 * 1024,
      },
      idleMs: integer('OMA_SANDBOX_IDLE_MS', env.OMA_SANDBOX_IDLE_MS, 10 * 60_000, 1_000, 7 * 86_400_000),
      packages: packageSettings(env),
    },
    maxBodyBytes: integer('OMA_MAX_BODY_BYTES', env.OMA_MAX_BODY_BYTES, 32 * 1024 * 1024, 1024, 1024 ** 3),
    rateLimits: {
      createPerMinute: integer('OMA_RATE_LIMIT_CREATE', env.OMA_RATE_LIMIT_CREATE, 600, 0, 1e9),
      readPerMinute: integer('OMA_RATE_LIMIT_READ', env.OMA_RATE_LIMIT_READ, 6000, 0, 1e9),
    },
    logLevel: env.OMA_LOG_LEVEL || 'info',
    brains: integer('OMA_BRAINS', env.OMA_BRAINS, 4 * availableParallelism(), 0, 10_000),
    wakePollMs: integer('OMA_WAKE_POLL_MS', env.OMA_WAKE_POLL_MS, env.DATABASE_URL ? 500 : 200, 10, 3_600_000),
    workTtlSeconds: integer('OMA_WORK_TTL_SECONDS', env.OMA_WORK_TTL_SECONDS, 120, 1, 86_400),
    brain: {
      maxToolCallsPerTurn: integer('OMA_MAX_TOOL_CALLS_PER_TURN', env.OMA_MAX_TOOL_CALLS_PER_TURN, DEFAULT_BRAIN_OPTIONS.maxToolCallsPerTurn, 1, 1e6),
      maxModelAttempts: integer('OMA_MODEL_MAX_ATTEMPTS', env.OMA_MODEL_MAX_ATTEMPTS, DEFAULT_BRAIN_OPTIONS.maxModelAttempts, 1, 100),
      retryBaseMs: integer('OMA_MODEL_RETRY_BASE_MS', env.OMA_MODEL_RETRY_BASE_MS, DEFAULT_BRAIN_OPTIONS.retryBaseMs, 0, 600_000),
      retryMaxMs: integer('OMA_MODEL_RETRY_MAX_MS', env.OMA_MODEL_RETRY_MAX_MS, DEFAULT_BRAIN_OPTIONS.retryMaxMs, 0, 3_600_000),
      maxTokens: integer('OMA_MAX_TOKENS', env.OMA_MAX_TOKENS, DEFAULT_BRAIN_OPTIONS.maxTokens, 1, 1_000_000),
      leaseTtlMs: integer('OMA_LEASE_TTL_MS', env.OMA_LEASE_TTL_MS, DEFAULT_BRAIN_OPTIONS.leaseTtlMs, 300, 3_600_000),
      toolTimeoutMs: integer('OMA_TOOL_TIMEOUT_MS', env.OMA_TOOL_TIMEOUT_MS, DEFAULT_BRAIN_OPTIONS.toolTimeoutMs, 1, 86_400_000),
      maxToolOutputBytes: integer('OMA_MAX_TOOL_OUTPUT_BYTES', env.OMA_MAX_TOOL_OUTPUT_BYTES, DEFAULT_BRAIN_OPTIONS.maxToolOutputBytes, 1024, 1024 ** 3),
      maxWakeAttempts: integer('OMA_MAX_WAKE_ATTEMPTS', env.OMA_MAX_WAKE_ATTEMPTS, DEFAULT_BRAIN_OPTIONS.maxWakeAttempts, 1, 1000),
      workerToolTimeoutMs: integer('OMA_WORKER_TOOL_TIMEOUT_MS', env.OMA_WORKER_TOOL_TIMEOUT_MS, DEFAULT_BRAIN_OPTIONS.workerToolTimeoutMs, 1_000, 7 * 86_400_000),
      unrestrictedNetworking: oneOf('OMA_UNRESTRICTED_NETWORKING', env.OMA_UNRESTRICTED_NETWORKING, ['none', 'public'] as const, DEFAULT_BRAIN_OPTIONS.unrestrictedNetworking),
      context: {
        strategy: env.OMA_CONTEXT_STRATEGY ? parseStrategy('OMA_CONTEXT_STRATEGY', env.OMA_CONTEXT_STRATEGY) : DEFAULT_CONTEXT.strategy,
        window: env.OMA_CONTEXT_WINDOW ? parseWindow('OMA_CONTEXT_WINDOW', env.OMA_CONTEXT_WINDOW) : undefined,
        compactAt: env.OMA_COMPACT_AT ? parseFraction('OMA_COMPACT_AT', env.OMA_COMPACT_AT) : DEFAULT_CONTEXT.compactAt,
      },
    },
    ...overrides,
  };
  const diskMb = config.sandboxes.limits.diskBytes / 1024 / 1024;
  if (diskMb > 0 && diskMb < 16) throw new OmaError('invalid_request', `OMA_SANDBOX_DISK_MB must be 0 (no workspace quota) or at least 16, not ${diskMb}`);
  if (!config.sandboxes.root) config.sandboxes = { ...config.sandboxes, root: resolve(env.OMA_WORKSPACES_DIR || join(config.dataDir, 'workspaces')) };
  if (!config.sandboxes.packages.dir) config.sandboxes.packages = { ...config.sandboxes.packages, dir: resolve(env.OMA_PACKAGES_DIR || join(config.dataDir, 'packages')) };
  return config;
}
