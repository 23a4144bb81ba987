import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe } from 'node:test';
import { createKey } from '../../src/auth/keys.ts';
import { skipPostgres } from '../../src/testing/databases.ts';
import { startTestOma, type TestOma } from '../../src/testing/server.ts';

/** Shared by the agents tests: one server per storage, a fresh workspace per test, error checks. */

/** Runs `body` once on PGlite and once on PostgreSQL, each against its own server. */
export function describeOnStorages(title: string, body: (oma: () => TestOma) => void): void {
  for (const storage of ['pglite', 'postgres'] as const) {
    describe(`${title} (${storage})`, { skip: storage === 'postgres' && skipPostgres }, () => {
      let oma: TestOma;
      before(async () => {
        oma = await startTestOma({ storage });
      });
      after(() => oma?.dispose());
      body(() => oma);
    });
  }
}

export interface Workspace {
  client: Anthropic;
  /** Number of HTTP requests the client has sent (retries included). */
  requests(): number;
  key: string;
  workspaceId: string;
}

/** An SDK client on a brand-new workspace, so lists see only this test's agents. */
export async function freshWorkspace(oma: TestOma, options: { maxRetries?: number } = {}): Promise<Workspace> {
  const created = await createKey(oma.db, { workspace: `agents-${randomBytes(5).toString('hex')}` });
  let count = 0;
  const client = new Anthropic({
    baseURL: oma.url,
    apiKey: created.key,
    maxRetries: options.maxRetries ?? 0,
    fetch: (input, init) => {
      count++;
      return fetch(input, init);
    },
  });
  return { client, key: created.key, workspaceId: created.workspace_id, requests: () => count };
}

/** Asserts that `promise` fails with an SDK error of `type`, whose message contains every `parts`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  type: new (...args: any[]) => InstanceType<typeof Anthropic.APIError>,
  options: { status: number; parts?: string[]; errorCode?: string },
): Promise<InstanceType<typeof Anthropic.APIError>> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof type, `expected ${type.name}, got ${String(caught)}`);
  const error = caught as InstanceType<typeof Anthropic.APIError>;
  assert.equal(error.status, options.status);
  const message = error.apiMessage ?? '';
  for (const part of options.parts ?? []) assert.ok(message.includes(part), `message ${JSON.stringify(message)} should contain ${JSON.stringify(part)}`);
  if (options.errorCode !== undefined) assert.equal(error.errorCode, options.errorCode);
  return error;
}

/** Options for raw `client.get/post` calls: the SDK adds the managed-agents beta only in `beta.*` methods. */
export const BETA = { headers: { 'anthropic-beta': 'managed-agents-2026-04-01' } };

/** Every agent of the workspace, archived ones included, via the SDK's auto-pagination. */
export async function allAgents(client: Anthropic) {
  const agents = [];
  for await (const agent of client.beta.agents.list({ include_archived: true, limit: 1000 })) agents.push(agent);
  return agents;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
