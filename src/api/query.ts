import type { Context } from 'hono';
import { OmaError } from '../errors.ts';

/**
 * Query strings as the SDK writes them (spec §1.3): arrays as repeated `k[]=v` (also plain repeated
 * `k=v`), filter keys with literal brackets (`created_at[gte]`), booleans as `true`/`false`, and
 * `page=` (empty) meaning no page.
 */
export class Query {
  private readonly params: URLSearchParams;

  constructor(c: Context) {
    this.params = new URL(c.req.url).searchParams;
  }

  /** A single value; empty counts as absent. Repeating a scalar parameter is a 400. */
  string(name: string): string | undefined {
    const values = this.params.getAll(name).filter((value) => value !== '');
    if (values.length > 1) throw new OmaError('invalid_request', `query parameter ${name} was given more than once`);
    return values[0];
  }

  /** `k[]=a&k[]=b` or `k=a&k=b`. */
  list(name: string): string[] {
    return [...this.params.getAll(`${name}[]`), ...this.params.getAll(name)].filter((value) => value !== '');
  }

  boolean(name: string): boolean | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw new OmaError('invalid_request', `query parameter ${name} must be true or false, not ${JSON.stringify(value)}`);
  }

  integer(name: string, { min, max }: { min: number; max?: number }): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value) || parsed < min || (max !== undefined && parsed > max)) {
      throw new OmaError('invalid_request', `query parameter ${name} must be an integer${max === undefined ? ` ≥ ${min}` : ` from ${min} to ${max}`}`);
    }
    return parsed;
  }

  /** An RFC 3339 timestamp. */
  timestamp(name: string): Date | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const parsed = new Date(value);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(parsed.getTime())) {
      throw new OmaError('invalid_request', `query parameter ${name} must be an RFC 3339 timestamp, not ${JSON.stringify(value)}`);
    }
    return parsed;
  }

  /** One of `allowed`. */
  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new OmaError('invalid_request', `query parameter ${name} must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }
}
