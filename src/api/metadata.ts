import { z } from 'zod';
import { OmaError } from '../errors.ts';

/**
 * `metadata`: `{string: string}`, at most 16 keys, keys ≤ 64 characters, values ≤ 512 (spec §1.7);
 * anything else is a 400 with `error_code: invalid_metadata`. On update it is a patch: a string
 * upserts, `null` deletes (environments also treat `""` as delete), an omitted field keeps everything.
 */

const LIMITS = { keys: 16, keyLength: 64, valueLength: 512 };

function invalid(message: string): never {
  throw new OmaError('invalid_request', `metadata: ${message}`, { details: { error_code: 'invalid_metadata' } });
}

function checkEntries(entries: [string, unknown][]) {
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > LIMITS.keyLength) invalid(`keys must be 1-${LIMITS.keyLength} characters (${JSON.stringify(key.slice(0, 80))})`);
    if (value !== null && typeof value !== 'string') invalid(`the value of ${JSON.stringify(key)} must be a string`);
    if (typeof value === 'string' && value.length > LIMITS.valueLength) invalid(`the value of ${JSON.stringify(key)} is longer than ${LIMITS.valueLength} characters`);
  }
}

/** Loose schema for request bodies: shape is checked by `createMetadata` / `patchMetadata`. */
export const MetadataParam = z.record(z.string(), z.unknown()).nullable().optional();

/** The metadata of a new object. */
export function createMetadata(value: Record<string, unknown> | null | undefined): Record<string, string> {
  if (value === undefined || value === null) return {};
  const entries = Object.entries(value);
  checkEntries(entries);
  if (entries.some(([, entry]) => entry === null)) invalid('values must be strings');
  if (entries.length > LIMITS.keys) invalid(`at most ${LIMITS.keys} keys`);
  return Object.fromEntries(entries) as Record<string, string>;
}

/** Stored metadata after an update's patch. */
export function patchMetadata(
  stored: Record<string, string>,
  patch: Record<string, unknown> | null | undefined,
  options: { emptyDeletes?: boolean } = {},
): Record<string, string> {
  if (patch === undefined || patch === null) return stored;
  const entries = Object.entries(patch);
  checkEntries(entries);
  const next = { ...stored };
  for (const [key, value] of entries) {
    if (value === null || (options.emptyDeletes && value === '')) delete next[key];
    else next[key] = value as string;
  }
  if (Object.keys(next).length > LIMITS.keys) invalid(`at most ${LIMITS.keys} keys`);
  return next;
}
