import { z } from 'zod';
import { MetadataParam } from '../api/metadata.ts';

/**
 * Request bodies of the vault and credential routes (spec hands-and-credentials §8.1–8.2; the SDK's
 * `VaultCreateParams`, `CredentialCreateParams`, … win where they disagree). Unknown fields are a 400
 * naming them. No message here ever contains a submitted value: several fields are secrets.
 */

/** ⚠ Limits the spec leaves open: generous, but bounded so one credential stays a small row. */
export const LIMITS = { displayName: 255, secret: 16_384, url: 2048, clientId: 1024, scope: 4096, secretName: 255, allowedHosts: 16, host: 253, credentialsPerVault: 20 };

const DisplayName = z
  .string()
  .max(LIMITS.displayName, `must be at most ${LIMITS.displayName} characters`)
  .refine((value) => value.trim().length > 0, 'must not be empty');

export const VaultCreateBody = z.strictObject({ display_name: DisplayName, metadata: MetadataParam });
export type VaultCreateBody = z.infer<typeof VaultCreateBody>;

export const VaultUpdateBody = z.strictObject({
  /** null = keep: a vault always has a name. */
  display_name: DisplayName.nullable().optional(),
  /** A patch: a string upserts, null deletes. */
  metadata: MetadataParam,
});
export type VaultUpdateBody = z.infer<typeof VaultUpdateBody>;

/** A write-only secret. */
const Secret = z.string().min(1, 'must not be empty').max(LIMITS.secret, `must be at most ${LIMITS.secret} characters`);

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

const HttpUrl = z.string().max(LIMITS.url, `must be at most ${LIMITS.url} characters`).refine(isHttpUrl, 'must be an http(s) URL without user info');

/** RFC 3339 with a zone, in the future ("Must be in the future", SDK). */
const FutureTimestamp = z
  .string()
  .refine((value) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value) && !Number.isNaN(Date.parse(value)), 'must be an RFC 3339 timestamp')
  .refine((value) => Date.parse(value) > Date.now(), 'must be in the future');

const ClientSecret = Secret;

const TokenEndpointAuth = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({ type: z.literal('client_secret_basic'), client_secret: ClientSecret }),
    z.strictObject({ type: z.literal('client_secret_post'), client_secret: ClientSecret }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? 'token_endpoint_auth.type must be "none", "client_secret_basic" or "client_secret_post"' : undefined) },
);

const RefreshCreate = z.strictObject({
  refresh_token: Secret,
  client_id: z.string().min(1, 'must not be empty').max(LIMITS.clientId),
  token_endpoint: HttpUrl,
  token_endpoint_auth: TokenEndpointAuth,
  resource: z.string().max(LIMITS.url).nullable().optional(),
  scope: z.string().max(LIMITS.scope).nullable().optional(),
});
export type RefreshCreate = z.infer<typeof RefreshCreate>;

/** A bare host name, an IPv4 address, or `*.example.com` (subdomains only): no scheme, port, path or IPv6. */
const Host = z
  .string()
  .max(LIMITS.host, `a host is at most ${LIMITS.host} characters`)
  .regex(/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/, 'must be a host name, an IPv4 address or *.domain (no URL, port or IPv6)');

export const CredentialNetworking = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('unrestricted') }),
    z.strictObject({ type: z.literal('limited'), allowed_hosts: z.array(Host).min(1, 'must name at least one host').max(LIMITS.allowedHosts, `at most ${LIMITS.allowedHosts} hosts`) }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? 'networking.type must be "unrestricted" or "limited"' : undefined) },
);

const InjectionLocation = z.strictObject({ header: z.boolean().optional(), body: z.boolean().optional() });

const SecretName = z
  .string()
  .max(LIMITS.secretName, `must be at most ${LIMITS.secretName} characters`)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name (letters, digits and _, not starting with a digit)');

export const AuthCreate = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('mcp_oauth'),
      mcp_server_url: HttpUrl,
      access_token: Secret,
      expires_at: FutureTimestamp.nullable().optional(),
      refresh: RefreshCreate.nullable().optional(),
    }),
    z.strictObject({ type: z.literal('static_bearer'), mcp_server_url: HttpUrl, token: Secret }),
    z.strictObject({
      type: z.literal('environment_variable'),
      secret_name: SecretName,
      secret_value: Secret,
      networking: CredentialNetworking,
      injection_location: InjectionLocation.optional(),
    }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? 'auth.type must be "mcp_oauth", "static_bearer" or "environment_variable"' : undefined) },
);
export type AuthCreate = z.infer<typeof AuthCreate>;

/** Immutable fields are accepted by the schema only to be refused with a clear message (or ignored when unchanged). */
const Immutable = z.unknown().optional();

const RefreshUpdate = z.strictObject({
  refresh_token: Secret.nullable().optional(),
  /** `""` clears the stored scope; null keeps it. */
  scope: z.string().max(LIMITS.scope).nullable().optional(),
  token_endpoint_auth: z
    .discriminatedUnion(
      'type',
      [
        z.strictObject({ type: z.literal('client_secret_basic'), client_secret: ClientSecret.nullable().optional() }),
        z.strictObject({ type: z.literal('client_secret_post'), client_secret: ClientSecret.nullable().optional() }),
      ],
      { error: (issue) => (issue.code === 'invalid_union' ? 'token_endpoint_auth.type must be "client_secret_basic" or "client_secret_post"' : undefined) },
    )
    .optional(),
  client_id: Immutable,
  token_endpoint: Immutable,
});

export const AuthUpdate = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('mcp_oauth'),
      access_token: Secret.nullable().optional(),
      expires_at: FutureTimestamp.nullable().optional(),
      refresh: RefreshUpdate.nullable().optional(),
      mcp_server_url: Immutable,
    }),
    z.strictObject({ type: z.literal('static_bearer'), token: Secret.nullable().optional(), mcp_server_url: Immutable }),
    z.strictObject({
      type: z.literal('environment_variable'),
      secret_value: Secret.nullable().optional(),
      networking: CredentialNetworking.nullable().optional(),
      injection_location: InjectionLocation.nullable().optional(),
      secret_name: Immutable,
    }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? 'auth.type must be "mcp_oauth", "static_bearer" or "environment_variable"' : undefined) },
);
export type AuthUpdate = z.infer<typeof AuthUpdate>;

export const CredentialCreateBody = z.strictObject({
  auth: AuthCreate,
  display_name: z.string().max(LIMITS.displayName, `must be at most ${LIMITS.displayName} characters`).nullable().optional(),
  metadata: MetadataParam,
});
export type CredentialCreateBody = z.infer<typeof CredentialCreateBody>;

export const CredentialUpdateBody = z.strictObject({
  auth: AuthUpdate.optional(),
  /** omitted = keep, null = clear. */
  display_name: z.string().max(LIMITS.displayName, `must be at most ${LIMITS.displayName} characters`).nullable().optional(),
  metadata: MetadataParam,
});
export type CredentialUpdateBody = z.infer<typeof CredentialUpdateBody>;
