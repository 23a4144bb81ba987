import pg from 'pg';
import { OmaError } from '../errors.ts';
import type { Db, QueryResult, Queryable } from './interface.ts';

const INT8_OID = 20;
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface PostgresOptions {
  /** Schema to work in (created if missing; tests use a fresh one per run). Default `public`. */
  schema?: string;
  /** Pool size. Default 16. */
  max?: number;
}

/** `host:port/database` of a connection string, for messages: never the user or password. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || 'localhost'}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/**
 * Statements with parameters are prepared once per connection and reused by name: PostgreSQL then
 * skips parsing and planning, which was most of its time on the brain's hot path (an append and a
 * read: 0.85 → 0.48 ms). oma's SQL is code, so the set is small; the cap only guards against a bug.
 */
const preparedNames = new Map<string, string>();
function preparedName(sql: string): string | undefined {
  let name = preparedNames.get(sql);
  if (name === undefined && preparedNames.size < 1_000) preparedNames.set(sql, (name = `oma_${preparedNames.size}`));
  return name;
}

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      const name = params.length > 0 ? preparedName(sql) : undefined;
      const raw: pg.QueryResult | pg.QueryResult[] = await client.query(name ? { name, text: sql, values: params as unknown[] } : { text: sql, values: params as unknown[] });
      // A multi-statement simple query answers with one result per statement: keep the last.
      const result = Array.isArray(raw) ? raw.at(-1)! : raw;
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? result.rows.length };
    },
  };
}

/** PostgreSQL ≥ 15 through `pg`. Safe to share between any number of processes. */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Db> {
  const schema = options.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new OmaError('invalid_request', `bad schema name ${schema}`);
  const where = describeUrl(url);
  const config: pg.PoolConfig = {
    connectionString: url,
    max: options.max ?? 16,
    types: typeParsers,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 10_000,
  };
  const pool = new pg.Pool(config);
  // An idle client that loses its connection emits here; without a handler the process would crash.
  pool.on('error', () => {});
  try {
    if (schema !== 'public') {
      // IF NOT EXISTS is not safe against a concurrent creator: losing that race is fine too.
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`).catch((error: { code?: string }) => {
        if (error.code !== '23505' && error.code !== '42P06') throw error;
      });
    }
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new OmaError('unavailable', `cannot connect to PostgreSQL at DATABASE_URL (${where}): ${(error as Error).message}`, {
      cause: error,
    });
  }
  const listener = new Listener(config);
  let closing: Promise<void> | undefined;
  const inner = wrap(pool);
  return {
    kind: 'postgres',
    description: `PostgreSQL at ${where}${schema === 'public' ? '' : ` (schema ${schema})`}`,
    query: inner.query,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    listen: (channel, onNotify, onReconnect) => listener.add(channel, onNotify, onReconnect),
    close() {
      closing ??= Promise.all([listener.close(), pool.end()]).then(() => {});
      return closing;
    },
  };
}

interface Subscription {
  channel: string;
  onNotify: (payload: string) => void;
  onReconnect?: () => void;
}

/** One dedicated connection for every LISTEN of a Db, re-established (and re-LISTENed) when it drops. */
class Listener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;

  constructor(private readonly config: pg.PoolConfig) {}

  async add(channel: string, onNotify: (payload: string) => void, onReconnect?: () => void) {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new OmaError('invalid_request', `bad channel name ${channel}`);
    const subscription: Subscription = { channel, onNotify, onReconnect };
    this.subscriptions.add(subscription);
    const client = await this.connect();
    await client.query(`LISTEN ${channel}`);
    return async () => {
      this.subscriptions.delete(subscription);
      const stillUsed = [...this.subscriptions].some((other) => other.channel === channel);
      if (!stillUsed && this.client && !this.closed) await this.client.query(`UNLISTEN ${channel}`).catch(() => {});
    };
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client(this.config);
      client.on('notification', (message) => {
        for (const subscription of this.subscriptions) {
          if (subscription.channel === message.channel) subscription.onNotify(message.payload ?? '');
        }
      });
      client.on('error', () => this.dropped(client));
      client.on('end', () => this.dropped(client));
      await client.connect();
      this.client = client;
      this.connecting = undefined;
      return client;
    })().catch((error) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  private dropped(client: pg.Client) {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    if (!this.closed) void this.reconnect(250);
  }

  private async reconnect(delayMs: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    if (this.closed) return;
    try {
      const client = await this.connect();
      for (const channel of new Set([...this.subscriptions].map((s) => s.channel))) await client.query(`LISTEN ${channel}`);
      for (const subscription of this.subscriptions) subscription.onReconnect?.();
    } catch {
      void this.reconnect(Math.min(delayMs * 2, 5_000));
    }
  }

  async close() {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => {});
  }
}
