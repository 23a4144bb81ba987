/**
 * The Managed Agents quickstart, with nothing but the official SDK: create an agent with a tool the
 * client runs itself, an environment and a session; open the session's stream, send a message,
 * answer the agent's tool call, and read the answer. Against oma only `baseURL` and `apiKey` differ
 * from the hosted service. Offline, oma's model is `oma fake-model` playing
 * examples/fake-model-script.json (scripts/run.sh starts it).
 *
 *   OMA_URL=http://127.0.0.1:8080 OMA_API_KEY=sk-… npx tsx examples/quickstart.ts
 */
import Anthropic from '@anthropic-ai/sdk';

/** The tool this client runs when the agent calls it. */
function getWeather(input: { city?: string }) {
  return `${input.city ?? 'Somewhere'}: 21°C and sunny`;
}

export async function quickstart(client: Anthropic, log: (line: string) => void = console.log) {
  const agent = await client.beta.agents.create({
    name: 'Weather assistant',
    model: 'claude-sonnet-4-6',
    system: 'You answer questions about the weather. Use get_weather.',
    tools: [
      {
        type: 'custom',
        name: 'get_weather',
        description: 'Current weather for a city',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    ],
  });
  const environment = await client.beta.environments.create({ name: `quickstart ${Date.now()}`, config: { type: 'cloud', networking: { type: 'unrestricted' } } });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, title: 'Quickstart' });
  log(`session ${session.id} is ${session.status}, pinned to ${agent.id} v${session.agent.version}`);

  // Stream first, then send: the stream carries what happens after it opened.
  const stream = await client.beta.sessions.events.stream(session.id);
  await client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.message', content: [{ type: 'text', text: 'What is the weather in Paris?' }] }],
  });
  const seen: string[] = [];
  let answer = '';
  for await (const event of stream) {
    seen.push(event.type);
    if (event.type === 'agent.message') {
      answer = event.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
      log(`agent: ${answer}`);
    } else if (event.type === 'agent.custom_tool_use') {
      const output = getWeather(event.input as { city?: string });
      log(`tool ${event.name}(${JSON.stringify(event.input)}) → ${output}`);
      await client.beta.sessions.events.send(session.id, {
        events: [{ type: 'user.custom_tool_result', custom_tool_use_id: event.id, content: [{ type: 'text', text: output }] }],
      });
    } else if (event.type === 'session.status_idle' && event.stop_reason.type !== 'requires_action') {
      log(`idle: ${event.stop_reason.type}`);
      break;
    } else if (event.type === 'session.error') {
      log(`error: ${event.error.message}`);
    }
  }

  const history = [];
  for await (const event of client.beta.sessions.events.list(session.id)) history.push(event);
  log(`history: ${history.map((event) => event.type).join(', ')}`);
  return { agent, environment, session, seen, answer, history };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const client = new Anthropic({ baseURL: process.env.OMA_URL ?? 'http://127.0.0.1:8080', apiKey: process.env.OMA_API_KEY });
  await quickstart(client);
}
