import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption of small secrets (credential tokens, repository tokens) with AES-256-GCM.
 *
 * Sealed text: `v1.<iv>.<tag>.<ciphertext>`, each part base64url; a fresh random 12-byte IV per seal.
 * `aad` (associated data) binds a ciphertext to where it is stored (`<vault_id>/<credential_id>`,
 * a resource id): opened under any other aad it fails, so a sealed value copied to another row is
 * useless. `open` fails with the same secret-free message for a wrong key, a wrong aad or tampering.
 */

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error(`a SecretBox key is 32 bytes, not ${key.length}`);
    this.#key = Buffer.from(key);
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
  }

  open(sealed: string, aad: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new Error('sealed secret is not in the v1 format');
    const [iv, tag, ciphertext] = parts.slice(1).map((part) => Buffer.from(part, 'base64url')) as [Buffer, Buffer, Buffer];
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('sealed secret is not in the v1 format');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // No cause kept: nothing about the data belongs in logs.
      throw new Error('sealed secret cannot be opened: wrong key, altered data, or stored under another id');
    }
  }
}
