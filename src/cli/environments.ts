import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../config.ts';
import { OmaError } from '../errors.ts';
import { SERVER_FILE } from '../server.ts';
import type { CreatedEnvironmentKey, EnvironmentKeyInfo } from '../work/keys.ts';

/**
 * `oma environments key …`: environment keys for self_hosted environments' workers. Always through a
 * running server's admin routes (never the database: the server may hold it alone), found at
 * `OMA_URL`, else where the server wrote it listens in the data directory, else `http://HOST:PORT`;
 * authenticated with `OMA_API_KEY` (else the key `scripts/run.sh` keeps in the data directory).
 */

function serverUrl(config: Config): string {
  if (process.env.OMA_URL) return process.env.OMA_URL.replace(/\/$/, '');
  if (!process.env.PORT && !process.env.HOST) {
    try {
      return (JSON.parse(readFileSync(join(config.dataDir, SERVER_FILE), 'utf8')) as { url: string }).url;
    } catch {
      // not written: fall back to HOST/PORT
    }
  }
  return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
}

function adminKey(config: Config): string {
  if (config.apiKey) return config.apiKey;
  try {
    const key = readFileSync(join(config.dataDir, 'api-key'), 'utf8').trim();
    if (key) return key;
  } catch {
    // none kept there
  }
  throw new OmaError('unauthenticated', 'set OMA_API_KEY to an admin API key of the oma server (and OMA_URL to its address)');
}

async function call<T>(method: 'GET' | 'POST', path: string): Promise<T> {
  const config = loadConfig();
  const base = serverUrl(config);
  const apiKey = adminKey(config);
  let response: Response;
  try {
    response = await fetch(`${base}/oma/v1${path}`, { method, headers: { authorization: `Bearer ${apiKey}` } });
  } catch (error) {
    throw new OmaError('unavailable', `no oma server answers at ${base} (${(error as Error).message}); start one, or set OMA_URL`);
  }
  const json = (await response.json().catch(() => ({}))) as { error?: { message: string } };
  if (!response.ok) throw new OmaError('invalid_request', `${base} answered ${response.status}: ${json.error?.message ?? 'unknown error'}`);
  return json as T;
}

const keysPath = (environmentId: string) => `/environments/${encodeURIComponent(environmentId)}/keys`;

export function registerEnvironmentCommands(program: Command) {
  const environments = program.command('environments').description('self_hosted environments: keys for their workers');
  const key = environments.command('key').description('environment keys: what a worker host polls its environment with (stored hashed; shown once)');

  key
    .command('create')
    .description('mint an environment key; prints the key alone on the last line')
    .argument('<environment_id>', 'a self_hosted environment (env_…)')
    .option('--json', 'print {"key", "id", "environment_id", ...} as JSON')
    .action(async (environmentId: string, options: { json?: boolean }) => {
      const created = await call<CreatedEnvironmentKey>('POST', keysPath(environmentId));
      if (options.json) return console.log(JSON.stringify(created));
      console.error(`created ${created.id} for ${created.environment_id}; it is shown only now (give it to the worker as ANTHROPIC_ENVIRONMENT_KEY):`);
      console.log(created.key);
    });

  key
    .command('list')
    .description("list an environment's keys (never the keys themselves)")
    .argument('<environment_id>', 'a self_hosted environment (env_…)')
    .option('--json', 'print JSON')
    .action(async (environmentId: string, options: { json?: boolean }) => {
      const { data } = await call<{ data: EnvironmentKeyInfo[] }>('GET', keysPath(environmentId));
      if (options.json) return console.log(JSON.stringify({ data }));
      if (data.length === 0) return console.log('no environment keys');
      for (const info of data) console.log(`${info.id}  …${info.hint}  ${info.created_at}  ${info.revoked_at ? `revoked ${info.revoked_at}` : 'active'}`);
    });

  key
    .command('revoke')
    .description('revoke an environment key at once')
    .argument('<environment_id>', 'the environment (env_…)')
    .argument('<key_id>', 'the key id (envkey_…), from `oma environments key list`')
    .action(async (environmentId: string, keyId: string) => {
      const revoked = await call<EnvironmentKeyInfo>('POST', `${keysPath(environmentId)}/${encodeURIComponent(keyId)}/revoke`);
      console.log(`revoked ${revoked.id} of ${revoked.environment_id}`);
    });
}
