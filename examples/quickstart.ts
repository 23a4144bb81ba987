/**
 * The Managed Agents quickstart, with nothing but the official SDK: create an agent, an environment
 * and a session, open the session's stream, send a message, and read it back. Against oma only
 * `baseURL` and `apiKey` differ from the hosted service.
 *
 *   OMA_URL=http://127.0.0.1:8080 OMA_API_KEY=sk-… npx tsx examples/quickstart.ts
 */
import Anthropic from '@anthropic-ai/sdk';

export async function quickstart(client: Anthropic, log: (line: string) => void = console.log) {
  const agent = await client.beta.agents.create({
    name: 'Coding assistant',
    model: 'claude-sonnet-4-6',
    system: 'You are a helpful coding assistant.',
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const environment = await client.beta.environments.create({ name: `quickstart ${Date.now()}`, config: { type: 'cloud', networking: { type: 'unrestricted' } } });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, title: 'Quickstart' });
  log(`session ${session.id} is ${session.status}, pinned to ${agent.id} v${session.agent.version}`);

  // Stream first, then send: the stream carries what happens after it opened.
  const stream = await client.beta.sessions.events.stream(session.id);
  await client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.message', content: [{ type: 'text', text: 'Write a haiku about append-only logs.' }] }],
  });
  let seen;
  for await (const event of stream) {
    log(`stream: ${event.type}`);
    seen = event;
    break; // a brain would go on: session.status_running, agent.message, session.status_idle …
  }

  const history = [];
  for await (const event of client.beta.sessions.events.list(session.id)) history.push(event);
  log(`history: ${history.map((event) => event.type).join(', ')}`);
  return { agent, environment, session, seen, history };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const client = new Anthropic({ baseURL: process.env.OMA_URL ?? 'http://127.0.0.1:8080', apiKey: process.env.OMA_API_KEY });
  await quickstart(client);
}
