import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Db, Queryable } from '../db/interface.ts';
import { SecretBox } from './crypto.ts';

/**
 * The master key that seals every stored secret (spec hands-and-credentials §8; VAULT-4).
 *
 * `OMA_MASTER_KEY`: 32 bytes as 64 hex characters, base64 or base64url. Without it, an embedded
 * (PGlite) server that may do so keeps a generated key in `<dataDir>/master.key` (mode 0600); a
 * PostgreSQL server has none, and every request that must store a secret is refused. Every process
 * on one database must use the same key; `verifyMasterKey` catches a wrong one at start.
 */

export const MASTER_KEY_FILE = 'master.key';
const CHECK_AAD = 'oma/master_key_check';
const CHECK_VALUE = 'oma master key check v1';

/** The key from its text form, or undefined when it is not 32 bytes in one of the accepted forms. */
export function parseMasterKey(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(value) || /^[A-Za-z0-9_-]{43}=?$/.test(value)) {
    const key = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  return undefined;
}

/** Reads the key file, or creates it (32 random bytes, hex, mode 0600) without ever exposing a partial file. */
function readOrCreateKeyFile(dataDir: string, logger: Logger | undefined): Buffer {
  const path = join(dataDir, MASTER_KEY_FILE);
  try {
    return keyFromFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(temporary, 0o600); // in case the umask took bits away from an already strict mode
  try {
    linkSync(temporary, path); // fails if another starter created it first: then theirs wins
    logger?.warn({ path }, `no OMA_MASTER_KEY: generated a master key in ${path}. Back it up: without it the stored credentials cannot be decrypted`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
  return keyFromFile(path);
}

function keyFromFile(path: string): Buffer {
  const text = readFileSync(path, 'utf8');
  const key = parseMasterKey(text);
  if (!key) throw new Error(`${path} does not hold a master key (32 bytes as hex or base64)`);
  if ((statSync(path).mode & 0o077) !== 0) throw new Error(`${path} must be readable by its owner only (chmod 600 ${path})`);
  return key;
}

/**
 * The master key, or undefined when secrets are disabled (PostgreSQL without OMA_MASTER_KEY, or
 * embedded without `allowGenerate`). A malformed OMA_MASTER_KEY is an error naming the variable
 * (never its value).
 */
export function loadMasterKey(options: { env: NodeJS.ProcessEnv; dataDir: string; embedded: boolean; allowGenerate: boolean; logger?: Logger }): Buffer | undefined {
  const given = options.env.OMA_MASTER_KEY;
  if (given !== undefined && given !== '') {
    const key = parseMasterKey(given);
    if (!key) throw new Error('OMA_MASTER_KEY must be 32 bytes written as 64 hex characters or as base64/base64url (e.g. `openssl rand -hex 32`)');
    return key;
  }
  if (!options.embedded) return undefined;
  if (!options.allowGenerate) return undefined;
  return readOrCreateKeyFile(options.dataDir, options.logger);
}

/**
 * The first time: store a known value sealed with `box`. Afterwards: open it, and throw when `box`
 * holds another key than the one this database's secrets were sealed with.
 */
export async function verifyMasterKey(db: Queryable, box: SecretBox): Promise<void> {
  await db.query('INSERT INTO master_key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [box.seal(CHECK_VALUE, CHECK_AAD)]);
  const { rows } = await db.query<{ sealed: string }>('SELECT sealed FROM master_key_check WHERE id = 1');
  let opened: string | undefined;
  try {
    opened = box.open(rows[0]!.sealed, CHECK_AAD);
  } catch {
    opened = undefined;
  }
  if (opened !== CHECK_VALUE) {
    throw new Error("OMA_MASTER_KEY does not match the key this database's secrets were sealed with (use the original key, or the data directory's master.key)");
  }
}

/**
 * What a process seals and opens secrets with (`oma serve` and `oma worker` alike): the configured
 * key, checked against the database; none when secrets are disabled (a warning says so). The
 * unsandboxed process provider could read a key file in the data directory: none is generated for it.
 */
export async function openSecrets(config: Pick<Config, 'masterKey' | 'dataDir' | 'sandbox'>, db: Db, logger?: Logger): Promise<SecretBox | undefined> {
  const key = loadMasterKey({ env: { OMA_MASTER_KEY: config.masterKey }, dataDir: config.dataDir, embedded: db.kind === 'pglite', allowGenerate: config.sandbox !== 'process', logger });
  if (!key) {
    logger?.warn('no OMA_MASTER_KEY: vault credentials and repository tokens cannot be stored');
    return undefined;
  }
  const secrets = new SecretBox(key);
  await verifyMasterKey(db, secrets);
  return secrets;
}
