import type Anthropic from '@anthropic-ai/sdk';

/** Small builders for API tests: an agent and an environment to hang sessions on. */

export async function createAgent(client: Anthropic, overrides: Record<string, unknown> = {}) {
  return client.beta.agents.create({ name: 'test agent', model: 'claude-sonnet-4-6', ...overrides } as Parameters<typeof client.beta.agents.create>[0]);
}

export async function createEnvironment(client: Anthropic, overrides: Record<string, unknown> = {}) {
  return client.beta.environments.create({ name: `env ${Math.random().toString(36).slice(2)}`, ...overrides } as Parameters<
    typeof client.beta.environments.create
  >[0]);
}

/** An agent, an environment, and a session on them. */
export async function createSession(client: Anthropic, overrides: Record<string, unknown> = {}) {
  const agent = await createAgent(client);
  const environment = await createEnvironment(client);
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, ...overrides } as Parameters<
    typeof client.beta.sessions.create
  >[0]);
  return { agent, environment, session };
}
