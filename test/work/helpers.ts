import Anthropic from '@anthropic-ai/sdk';
import { createAgent, createEnvironment } from '../../src/testing/fixtures.ts';
import { TEST_API_KEY, type TestOma } from '../../src/testing/server.ts';

/** Shared by the work protocol tests: a self_hosted environment, its sessions, keys and worker clients. */

export const BETA = { 'anthropic-beta': 'managed-agents-2026-04-01' };
export const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function selfHostedEnvironment(client: Anthropic) {
  return createEnvironment(client, { config: { type: 'self_hosted' } });
}

export async function sessionOn(client: Anthropic, environmentId: string) {
  const agent = await createAgent(client);
  return client.beta.sessions.create({ agent: agent.id, environment_id: environmentId });
}

/** A new environment key through the admin route. */
export async function mintEnvironmentKey(oma: TestOma, environmentId: string): Promise<{ id: string; key: string; environment_id: string; created_at: string }> {
  const response = await fetch(`${oma.url}/oma/v1/environments/${environmentId}/keys`, { method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}` } });
  if (response.status !== 200) throw new Error(`minting a key answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as { id: string; key: string; environment_id: string; created_at: string };
}

/** The official SDK authenticated with a worker credential (environment key or sessions token), as the worker's sub-client is. */
export function workerClient(oma: TestOma, token: string): Anthropic {
  return new Anthropic({ baseURL: oma.url, apiKey: null, authToken: token, maxRetries: 0 });
}

/** A raw request with a bearer credential, for status codes and bodies the SDK hides. */
export async function raw(oma: TestOma, token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${oma.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...BETA, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, any>) : undefined };
}

/** The sessions token inside a polled item's secret, decoded as the SDK's worker does. */
export { sessionsTokenFromSecret } from '@anthropic-ai/sdk/lib/environments/worker';
