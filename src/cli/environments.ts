import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { OmaError } from '../errors.ts';
import { adminKey, adminRoutes, serverUrl } from './server-client.ts';
import type { CreatedEnvironmentKey, EnvironmentKeyInfo } from '../work/keys.ts';

/**
 * `oma environments key …`: environment keys for self_hosted environments' workers. Always through a
 * running server's admin routes (never the database: the server may hold it alone), found at
 * `OMA_URL`, else where the server wrote it listens in the data directory, else `http://HOST:PORT`;
 * authenticated with `OMA_API_KEY` (else the key `scripts/run.sh` keeps in the data directory).
 */

async function call<T>(method: 'GET' | 'POST', path: string): Promise<T> {
  const config = loadConfig();
  const apiKey = adminKey(config);
  if (!apiKey) throw new OmaError('unauthenticated', 'set OMA_API_KEY to an admin API key of the oma server (and OMA_URL to its address)');
  return adminRoutes(serverUrl(config), apiKey, (base, cause) => `no oma server answers at ${base} (${cause}); start one, or set OMA_URL`)<T>(method, path);
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
