import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { freshPostgres, skipPostgres } from '../../src/testing/databases.ts';
import { SecretBox } from '../../src/vaults/crypto.ts';
import { loadMasterKey, MASTER_KEY_FILE, parseMasterKey, verifyMasterKey } from '../../src/vaults/master-key.ts';
import { startVaultOma } from './helpers.ts';

/** The SecretBox (AES-256-GCM) and the master key: parsing, generation, and the wrong-key check. */

const key = () => randomBytes(32);
const PLAINTEXT = 'canary-plaintext-7f3a9c';

describe('SecretBox', () => {
  it('[VAULT-3] seals to a versioned v1 text, opens back, and never seals the same way twice', () => {
    const box = new SecretBox(key());
    const first = box.seal(PLAINTEXT, 'vlt_1/vcrd_1');
    const second = box.seal(PLAINTEXT, 'vlt_1/vcrd_1');
    assert.match(first, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    assert.notEqual(first, second, 'a fresh IV per seal');
    assert.ok(!first.includes(PLAINTEXT));
    assert.equal(box.open(first, 'vlt_1/vcrd_1'), PLAINTEXT);
    assert.equal(box.open(second, 'vlt_1/vcrd_1'), PLAINTEXT);
    assert.equal(box.open(box.seal('', 'x'), 'x'), '');
  });

  it('[VAULT-3] a ciphertext moved to another row (other aad), another key, or altered does not open, and the error names no secret', () => {
    const secretKey = key();
    const box = new SecretBox(secretKey);
    const sealed = box.seal(PLAINTEXT, 'vlt_1/vcrd_1');
    const refusals: [string, () => string][] = [
      ['other credential', () => box.open(sealed, 'vlt_1/vcrd_2')],
      ['other vault', () => box.open(sealed, 'vlt_2/vcrd_1')],
      ['other key', () => new SecretBox(key()).open(sealed, 'vlt_1/vcrd_1')],
    ];
    const [version, iv, tag, ciphertext] = sealed.split('.') as [string, string, string, string];
    const flip = (part: string) => Buffer.from(Buffer.from(part, 'base64url').map((byte, index) => (index === 0 ? byte ^ 1 : byte))).toString('base64url');
    refusals.push(['altered ciphertext', () => box.open([version, iv, tag, flip(ciphertext)].join('.'), 'vlt_1/vcrd_1')]);
    refusals.push(['altered tag', () => box.open([version, iv, flip(tag), ciphertext].join('.'), 'vlt_1/vcrd_1')]);
    refusals.push(['altered iv', () => box.open([version, flip(iv), tag, ciphertext].join('.'), 'vlt_1/vcrd_1')]);
    refusals.push(['other version', () => box.open(['v2', iv, tag, ciphertext].join('.'), 'vlt_1/vcrd_1')]);
    refusals.push(['garbage', () => box.open('not sealed', 'vlt_1/vcrd_1')]);
    for (const [label, open] of refusals) {
      assert.throws(open, (error: Error) => {
        assert.ok(!error.message.includes(PLAINTEXT), label);
        assert.ok(!error.message.includes(secretKey.toString('hex')) && !error.message.includes(secretKey.toString('base64')), label);
        return true;
      }, label);
    }
  });

  it('[VAULT-3] refuses keys that are not 32 bytes', () => {
    assert.throws(() => new SecretBox(randomBytes(16)), /32 bytes/);
  });
});

describe('master key', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'oma-master-key-'));
    dirs.push(dir);
    return dir;
  };
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('[VAULT-4] OMA_MASTER_KEY is accepted as hex, base64 and base64url, all meaning the same 32 bytes', () => {
    const bytes = Buffer.from(Array.from({ length: 32 }, (_, index) => 250 - index * 3)); // has + and / in base64
    for (const text of [bytes.toString('hex'), bytes.toString('hex').toUpperCase(), bytes.toString('base64'), bytes.toString('base64url'), ` ${bytes.toString('base64')}\n`]) {
      const loaded = loadMasterKey({ env: { OMA_MASTER_KEY: text }, dataDir: tempDir(), embedded: false, allowGenerate: false });
      assert.deepEqual(loaded, bytes, text);
    }
  });

  it('[VAULT-4] a malformed OMA_MASTER_KEY is a startup error naming the variable, never echoing the value', () => {
    const bad = ['canary-not-a-key', randomBytes(31).toString('hex'), randomBytes(16).toString('base64'), randomBytes(33).toString('base64'), `${randomBytes(32).toString('hex')}0`];
    for (const value of bad) {
      assert.equal(parseMasterKey(value), undefined, value);
      assert.throws(
        () => loadMasterKey({ env: { OMA_MASTER_KEY: value }, dataDir: tempDir(), embedded: true, allowGenerate: true }),
        (error: Error) => error.message.includes('OMA_MASTER_KEY') && !error.message.includes(value),
      );
    }
  });

  it('[VAULT-4] embedded without a key: generates <dataDir>/master.key with mode 0600, warns that it must be backed up, and reuses it', () => {
    const dir = tempDir();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
    const generated = loadMasterKey({ env: {}, dataDir: dir, embedded: true, allowGenerate: true, logger });
    assert.ok(generated && generated.length === 32);
    const path = join(dir, MASTER_KEY_FILE);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(parseMasterKey(readFileSync(path, 'utf8')), generated);
    assert.equal(lines.length, 1);
    const warning = JSON.parse(lines[0]!) as { level: number; msg: string };
    assert.equal(warning.level, 40);
    assert.match(warning.msg, /generated a master key/);
    assert.ok(warning.msg.includes(path));
    assert.match(warning.msg, /Back it up/);
    assert.ok(!lines[0]!.includes(generated.toString('hex')), 'the key itself is not logged');
    // Second start: the same key, no new warning, no stray temporary files.
    assert.deepEqual(loadMasterKey({ env: {}, dataDir: dir, embedded: true, allowGenerate: true, logger }), generated);
    assert.equal(lines.length, 1);
    assert.deepEqual(
      readdirSync(dir).filter((name) => name !== MASTER_KEY_FILE),
      [],
    );
  });

  it('[VAULT-4] no key when not allowed to generate (process sandbox) or on PostgreSQL; a key file others can read is refused', () => {
    const dir = tempDir();
    assert.equal(loadMasterKey({ env: {}, dataDir: dir, embedded: true, allowGenerate: false }), undefined);
    assert.equal(existsSync(join(dir, MASTER_KEY_FILE)), false);
    assert.equal(loadMasterKey({ env: {}, dataDir: dir, embedded: false, allowGenerate: true }), undefined);
    assert.equal(existsSync(join(dir, MASTER_KEY_FILE)), false);
    writeFileSync(join(dir, MASTER_KEY_FILE), randomBytes(32).toString('hex'));
    chmodSync(join(dir, MASTER_KEY_FILE), 0o644);
    assert.throws(() => loadMasterKey({ env: {}, dataDir: dir, embedded: true, allowGenerate: true }), /owner only/);
  });

  for (const storage of ['pglite', 'postgres'] as const) {
    it(`[VAULT-4] ${storage}: a server restarted with another key is refused with a clear error; the right key starts`, { skip: storage === 'postgres' && skipPostgres }, async () => {
      const first = randomBytes(32).toString('hex');
      const pg = storage === 'postgres' ? freshPostgres() : undefined;
      const dataDir = storage === 'pglite' ? tempDir() : undefined;
      try {
        const target = { dataDir, postgres: pg && { url: pg.url, schema: pg.schema } };
        const oma = await startVaultOma(storage, { masterKey: first, ...target });
        // verifyMasterKey straight on the database: the right box passes, any other is refused.
        await verifyMasterKey(oma.db, new SecretBox(Buffer.from(first, 'hex')));
        await assert.rejects(verifyMasterKey(oma.db, new SecretBox(key())), /OMA_MASTER_KEY does not match the key this database's secrets were sealed with/);
        await oma.stop(1_000);
        const wrong = randomBytes(32).toString('hex');
        await assert.rejects(startVaultOma(storage, { masterKey: wrong, ...target }), (error: Error) => {
          assert.match(error.message, /OMA_MASTER_KEY does not match/);
          assert.ok(!error.message.includes(wrong) && !error.message.includes(first));
          return true;
        });
        const again = await startVaultOma(storage, { masterKey: Buffer.from(first, 'hex').toString('base64'), ...target });
        assert.ok(again.secrets);
        await again.stop(1_000);
      } finally {
        await pg?.drop();
      }
    });
  }

  it('[VAULT-4] pglite without OMA_MASTER_KEY: the generated key is kept in the data directory and used on the next start', async () => {
    const dataDir = tempDir();
    const oma = await startVaultOma('pglite', { masterKey: null, dataDir });
    assert.ok(oma.secrets);
    assert.ok(oma.logs.some((line) => line.includes('generated a master key')));
    const sealed = oma.secrets.seal(PLAINTEXT, 'check');
    await oma.stop(1_000);
    const again = await startVaultOma('pglite', { masterKey: null, dataDir });
    assert.equal(again.secrets?.open(sealed, 'check'), PLAINTEXT);
    assert.ok(!again.logs.some((line) => line.includes('generated a master key')));
    await again.stop(1_000);
  });
});
