/**
 * Storage, servers and sessions for the brain benchmark: a fresh PGlite directory or PostgreSQL
 * schema per use, whole in-process oma servers on it (`startOma`, echo sandbox, the bench model),
 * and the session helpers the measures share.
 */
import Anthropic from '@anthropic-ai/sdk';
import { rmSync } from 'node:fs';
import pino from 'pino';
import { DEFAULT_BRAIN_OPTIONS } from '../../src/brain/options.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import type { Db } from '../../src/db/index.ts';
import type { Model } from '../../src/model/interface.ts';
import { startOma, type RunningOma } from '../../src/server.ts';
import { freshPgliteDir, freshPostgres } from '../../src/testing/databases.ts';
import { EchoSandboxProvider } from '../../src/testing/echo-sandbox.ts';
import { prompt, type BenchModel, type CallHook } from './model.ts';
import type { ResumeArguments } from './resume-child.ts';

const API_KEY = 'sk-oma-bench-admin-key-0123456789';
/** Every PostgreSQL connection of this run (pool, LISTEN, child process) carries this `application_name`. */
export const APP_NAME = 'oma-bench-brain';

export const BRAIN_OPTIONS = { ...DEFAULT_BRAIN_OPTIONS, maxToolCallsPerTurn: 100_000 };

const LOOP_TIMEOUT_MS = 120_000;

export type BackendName = 'PGlite' | 'PostgreSQL';
export const BACKENDS: readonly BackendName[] = ['PGlite', 'PostgreSQL'];

export interface Storage {
  name: BackendName;
  /** Config fields pointing a server at this storage. */
  config: Partial<Config>;
  /** The same for bench/brain/resume-child.ts. */
  resume: Omit<ResumeArguments, 'sessionId' | 'spawnAt'>;
  /** PostgreSQL schema. */
  schema?: string;
  remove(): Promise<void>;
}

export async function createStorage(name: BackendName, url: string): Promise<Storage> {
  if (name === 'PGlite') {
    const dir = await freshPgliteDir();
    return { name, config: { dataDir: dir }, resume: { dataDir: dir }, remove: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const postgres = freshPostgres({ url, prefix: 'oma_bench' });
  return {
    name,
    config: { databaseUrl: url, databaseSchema: postgres.schema },
    resume: { databaseUrl: url, schema: postgres.schema },
    schema: postgres.schema,
    remove: postgres.drop,
  };
}

export interface Server {
  oma: RunningOma;
  client: Anthropic;
  /** SQL statements run through the server's Db so far. */
  statements: () => number;
}

/** Brain failures are logged (to stderr) rather than lost. */
export const logger = pino({ level: 'warn' }, pino.destination(2));

/** `oma serve` in this process on `storage`: rate limits off, `brains` brains (0: none, and no scheduler). */
export async function startServer(storage: Storage, brains: number, model?: Model): Promise<Server> {
  const config = loadConfig(
    {},
    { port: 0, apiKey: API_KEY, rateLimits: { createPerMinute: 0, readPerMinute: 0 }, brains, brain: BRAIN_OPTIONS, ...storage.config },
  );
  const oma = await startOma(config, logger, { model, sandboxes: new EchoSandboxProvider() });
  return { oma, client: new Anthropic({ baseURL: oma.url, apiKey: API_KEY, maxRetries: 0 }), statements: countStatements(oma.db) };
}

/** Count every `db.query` (the brain, the session log, leases, the API all go through it). */
function countStatements(db: Db): () => number {
  let count = 0;
  const query = db.query.bind(db);
  db.query = ((sql: string, params?: readonly unknown[]) => {
    count++;
    return query(sql, params);
  }) as Db['query'];
  return () => count;
}

/** The database server's version and durability settings, for the notes. */
export async function settings(db: Db): Promise<string> {
  const show = async (name: string) => (await db.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?';
  return `server ${await show('server_version')}, fsync ${await show('fsync')}, synchronous_commit ${await show('synchronous_commit')}, full_page_writes ${await show('full_page_writes')}`;
}

/** An agent and an environment for the sessions of a server. */
export interface AgentIds {
  agentId: string;
  environmentId: string;
}

export async function newAgent(client: Anthropic): Promise<AgentIds> {
  const agent = await client.beta.agents.create({ name: 'bench agent', model: 'claude-sonnet-4-6', tools: [{ type: 'agent_toolset_20260401' }] });
  const environment = await client.beta.environments.create({ name: `bench env ${Math.random().toString(36).slice(2)}` });
  return { agentId: agent.id, environmentId: environment.id };
}

export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: () => Promise<string> | string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const result = await Promise.race([promise, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') throw new Error(`timed out after ${timeoutMs} ms: ${await what()}`);
  return result as T;
}

/** The newest events of a session, for error messages. */
export async function tail(oma: RunningOma, sessionId: string): Promise<string> {
  const events = await oma.sessionLog.read(sessionId, { order: 'desc', limit: 5 });
  return `session ${sessionId} ends with ${events
    .reverse()
    .map((event) => (event.type === 'session.error' ? `session.error ${JSON.stringify(event.payload.error)}` : event.type))
    .join(', ')}`;
}

export async function lastSeq(oma: RunningOma, sessionId: string): Promise<number> {
  return (await oma.sessionLog.read(sessionId, { order: 'desc', limit: 1 }))[0]?.seq ?? 0;
}

/** Loop one session through `toolCalls` turns, then `end_turn`; resolves once the session is idle again. */
export async function loopSession(server: Server, model: BenchModel, ids: AgentIds, tag: string, toolCalls: number, hook?: CallHook) {
  const { client, oma } = server;
  const session = await client.beta.sessions.create({ agent: ids.agentId, environment_id: ids.environmentId });
  let onLast!: () => void;
  const last = new Promise<void>((resolve) => (onLast = resolve));
  model.onCall(tag, (index, request) => {
    if (index === toolCalls) onLast();
    return hook?.(index, request);
  });
  await client.beta.sessions.events.send(session.id, { events: [prompt(tag, toolCalls)] });
  await withTimeout(last, LOOP_TIMEOUT_MS, () => tail(oma, session.id));
  // The end_turn answer is in: wait for the brain to record it and go idle, before the next session.
  await withTimeout(
    (async () => {
      while ((await client.beta.sessions.retrieve(session.id)).status !== 'idle') await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
    10_000,
    () => tail(oma, session.id),
  );
  return { sessionId: session.id, calls: model.callsOf(tag) };
}
