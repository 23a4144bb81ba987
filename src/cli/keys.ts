import type { Command } from 'commander';
import { createKey, listKeys, revokeKey, setWorkspaceLimits, type ApiKeyInfo, type CreatedKey, type WorkspaceLimits } from '../auth/keys.ts';
import { loadConfig, type Config } from '../config.ts';
import { openDb } from '../db/index.ts';
import { isOmaError, OmaError } from '../errors.ts';
import { adminKey, adminRoutes, serverUrl } from './server-client.ts';

/**
 * `oma keys …`. Works on the database directly when it can: always with PostgreSQL, and with PGlite
 * when no server holds the directory. When a running `oma serve` holds the PGlite directory (a second
 * opener would corrupt it), the same operations go through that server's admin routes instead,
 * authenticated with `OMA_API_KEY` (else the key `scripts/run.sh` keeps in the data directory) and
 * found at `OMA_URL`, else where the server says it listens, else `http://HOST:PORT`.
 */
interface KeyOperations {
  create(options: { workspace: string; name?: string; admin?: boolean }): Promise<CreatedKey>;
  list(options: { workspace?: string }): Promise<ApiKeyInfo[]>;
  revoke(id: string): Promise<ApiKeyInfo>;
  limits(workspace: string, limits: { create_per_minute?: number | null; read_per_minute?: number | null }): Promise<WorkspaceLimits>;
}

async function withKeys<T>(config: Config, fn: (keys: KeyOperations) => Promise<T>): Promise<T> {
  let db;
  try {
    db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.databaseSchema, poolSize: config.databasePoolSize });
  } catch (error) {
    if (isOmaError(error) && error.details?.error_code === 'data_dir_locked') return fn(viaServer(config, error));
    throw error;
  }
  try {
    return await fn({
      create: (options) => createKey(db, options),
      list: (options) => listKeys(db, options),
      revoke: (id) => revokeKey(db, id),
      limits: (workspace, limits) => setWorkspaceLimits(db, workspace, limits),
    });
  } finally {
    await db.close();
  }
}

function viaServer(config: Config, locked: OmaError): KeyOperations {
  const base = serverUrl(config, { holderPid: locked.details?.pid });
  const apiKey = adminKey(config);
  if (!apiKey) {
    throw new OmaError('unauthenticated', `${locked.message}\nTo manage keys through that server, set OMA_API_KEY to an admin key (and OMA_URL if it is not at ${base}).`);
  }
  const call = adminRoutes(base, apiKey, (at, cause) => `${locked.message}\nand no oma server answers at ${at} (${cause}); set OMA_URL`);
  return {
    create: (options) => call('POST', '/keys', options),
    list: async (options) =>
      (await call<{ data: ApiKeyInfo[] }>('GET', `/keys${options.workspace ? `?workspace=${encodeURIComponent(options.workspace)}` : ''}`)).data,
    revoke: (id) => call('POST', `/keys/${encodeURIComponent(id)}/revoke`),
    limits: (workspace, limits) => call('POST', `/workspaces/${encodeURIComponent(workspace)}/limits`, limits),
  };
}

function printKeys(keys: ApiKeyInfo[]) {
  if (keys.length === 0) return console.log('no API keys');
  const rows = keys.map((key) => [key.id, key.workspace, key.name, `…${key.hint}`, key.admin ? 'admin' : '', key.revoked_at ? `revoked ${key.revoked_at}` : 'active']);
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
}

export function registerKeyCommands(program: Command) {
  const keys = program.command('keys').description('manage API keys (stored hashed; a key is shown once, when created)');

  keys
    .command('create')
    .description('create an API key; prints the key alone on the last line')
    .option('-w, --workspace <name>', 'workspace the key belongs to (created if missing)', 'default')
    .option('-n, --name <name>', 'a label for the key')
    .option('--admin', 'the key may also manage keys (oma admin routes)')
    .option('--json', 'print {"key", "id", ...} as JSON')
    .action(async (options: { workspace: string; name?: string; admin?: boolean; json?: boolean }) => {
      const created = await withKeys(loadConfig(), (ops) => ops.create({ workspace: options.workspace, name: options.name, admin: options.admin }));
      if (options.json) return console.log(JSON.stringify(created));
      console.error(`created ${created.id} in workspace ${created.workspace}; it is shown only now:`);
      console.log(created.key);
    });

  keys
    .command('list')
    .description('list API keys (never the keys themselves)')
    .option('-w, --workspace <name>', 'only this workspace')
    .option('--json', 'print JSON')
    .action(async (options: { workspace?: string; json?: boolean }) => {
      const list = await withKeys(loadConfig(), (ops) => ops.list({ workspace: options.workspace }));
      if (options.json) return console.log(JSON.stringify({ data: list }));
      printKeys(list);
    });

  keys
    .command('revoke')
    .description('revoke an API key at once')
    .argument('<id>', 'the key id (apikey_…), from `oma keys list`')
    .action(async (id: string) => {
      const revoked = await withKeys(loadConfig(), (ops) => ops.revoke(id));
      console.log(`revoked ${revoked.id} (${revoked.workspace}/${revoked.name})`);
    });
}

function perMinute(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'default') return null;
  if (!/^\d+$/.test(value)) throw new OmaError('invalid_request', `a limit is a whole number of requests per minute, 0 (unlimited) or "default", not ${JSON.stringify(value)}`);
  return Number(value);
}

export function registerWorkspaceCommands(program: Command) {
  const workspaces = program.command('workspaces').description('manage workspaces');
  workspaces
    .command('limits')
    .description('set a workspace\'s request rate limits (per minute; 0 = unlimited, "default" = the server default)')
    .argument('<workspace>', 'workspace name')
    .option('--create <n>', 'create requests (POST, DELETE) per minute')
    .option('--read <n>', 'read requests (GET) per minute')
    .action(async (workspace: string, options: { create?: string; read?: string }) => {
      const limits = { create_per_minute: perMinute(options.create), read_per_minute: perMinute(options.read) };
      const result = await withKeys(loadConfig(), (ops) => ops.limits(workspace, limits));
      const show = (value: number | null) => (value === null ? 'default' : value === 0 ? 'unlimited' : `${value}/min`);
      console.log(`${result.name}: create ${show(result.create_per_minute)}, read ${show(result.read_per_minute)}`);
    });
}
