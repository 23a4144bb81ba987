import { z } from 'zod';
import { MetadataParam } from '../api/metadata.ts';
import { ConfigParam } from './config.ts';

/**
 * Request bodies of `POST /v1/environments` (`EnvironmentCreateParams`) and
 * `POST /v1/environments/{id}` (`EnvironmentUpdateParams`). Unknown fields are a 400 naming them.
 * Metadata limits are checked by `createMetadata` / `patchMetadata` (error code `invalid_metadata`).
 */

/** ⚠ The spec gives no limits for environments; these are the agents' (name 1–256, description ≤ 2048). */
const LIMITS = { name: 256, description: 2048 };

const Name = z
  .string()
  .max(LIMITS.name, `must be at most ${LIMITS.name} characters`)
  .refine((value) => value.trim().length > 0, 'must not be empty');

const Description = z.string().max(LIMITS.description, `must be at most ${LIMITS.description} characters`).nullable().optional();

/**
 * `scope`: oma is an API organization in the SDK's terms, where only `organization` exists ("API
 * organizations support only 'organization'; 'account' is rejected"). null/omitted = the default.
 */
const Scope = z
  .enum(['organization', 'account'])
  .nullable()
  .optional()
  .refine((value) => value !== 'account', 'only "organization" is supported; "account" scope does not exist on this server');

export const CreateBody = z.strictObject({
  name: Name,
  description: Description,
  config: ConfigParam,
  metadata: MetadataParam,
  scope: Scope,
});
export type CreateBody = z.infer<typeof CreateBody>;

export const UpdateBody = z.strictObject({
  /** null = keep (spec §3.3 ⚠): a name cannot be cleared. */
  name: Name.nullable().optional(),
  /** omitted = keep, null = clear, `""` is stored as `""`. */
  description: Description,
  config: ConfigParam,
  /** A patch: a string upserts, null or `""` deletes. */
  metadata: MetadataParam,
  scope: Scope,
});
export type UpdateBody = z.infer<typeof UpdateBody>;
