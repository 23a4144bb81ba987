import { OmaError } from '../errors.ts';
import type { SecretBox } from './crypto.ts';

/**
 * The write-only part of a credential, sealed as one JSON object per row with
 * `<vault_id>/<credential_id>` as associated data (VAULT-3): a sealed value copied to another row,
 * or to another vault, does not open.
 */
export interface CredentialSecrets {
  /** mcp_oauth */
  access_token?: string;
  refresh_token?: string;
  client_secret?: string;
  /** static_bearer */
  token?: string;
  /** environment_variable */
  secret_value?: string;
}

export const NO_MASTER_KEY_MESSAGE = 'this server has no OMA_MASTER_KEY: set it (32 bytes, base64 or hex) on every oma process to store credentials';

/** The box, or the 400 every request that must store a secret gets from a server without a master key. */
export function requireSecrets(secrets: SecretBox | undefined): SecretBox {
  if (!secrets) throw new OmaError('invalid_request', NO_MASTER_KEY_MESSAGE, { details: { error_code: 'master_key_missing' } });
  return secrets;
}

export function credentialAad(vaultId: string, credentialId: string): string {
  return `${vaultId}/${credentialId}`;
}

export function sealCredentialSecrets(box: SecretBox, vaultId: string, credentialId: string, secrets: CredentialSecrets): string {
  return box.seal(JSON.stringify(secrets), credentialAad(vaultId, credentialId));
}

/** The stored secrets; a value that does not open (other key, other row, altered) is a 500 that names only the credential. */
export function openCredentialSecrets(box: SecretBox, vaultId: string, credentialId: string, sealed: string): CredentialSecrets {
  try {
    return JSON.parse(box.open(sealed, credentialAad(vaultId, credentialId))) as CredentialSecrets;
  } catch {
    throw new OmaError('internal', `the secrets of credential ${credentialId} cannot be decrypted (sealed under another key, or not stored for this credential)`, {
      details: { error_code: 'credential_undecryptable' },
    });
  }
}
