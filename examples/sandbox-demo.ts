/**
 * The demo `oma demo` runs: with nothing but the official SDK, an agent with the built-in toolset
 * writes a small program in its sandbox and runs it, streamed to the terminal. Offline, the model is
 * scripted (examples/sandbox-demo-script.json); with ANTHROPIC_API_KEY set, it is Claude.
 *
 *   OMA_URL=http://127.0.0.1:8080 OMA_API_KEY=sk-… npx tsx examples/sandbox-demo.ts
 */
import Anthropic from '@anthropic-ai/sdk';

export async function sandboxDemo(client: Anthropic, log: (line: string) => void = console.log) {
  const agent = await client.beta.agents.create({
    name: 'Demo coder',
    model: 'claude-sonnet-4-6',
    system: 'You are a careful programmer. Work in the sandbox: write files, run them, report what you saw.',
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const environment = await client.beta.environments.create({ name: `demo ${Date.now()}` });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, title: 'oma demo' });
  log(`session ${session.id} (agent ${agent.id})`);

  const stream = await client.beta.sessions.events.stream(session.id);
  const task = 'Write a JavaScript program that prints the first ten prime numbers, run it with node, and tell me the output.';
  log(`you: ${task}`);
  await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: task }] }] });
  const seen: string[] = [];
  const outputs: string[] = [];
  for await (const event of stream) {
    seen.push(event.type);
    if (event.type === 'agent.message') log(`agent: ${event.content.map((block) => (block.type === 'text' ? block.text : '')).join('')}`);
    else if (event.type === 'agent.tool_use') log(`  ↳ ${event.name} ${summarise(event.input)}`);
    else if (event.type === 'agent.tool_result') {
      const text = (event.content ?? []).map((block) => (block.type === 'text' ? block.text : `[${block.type}]`)).join('');
      outputs.push(text);
      log(`  ${event.is_error ? '✗' : '✓'} ${text.split('\n').join('\n    ')}`);
    } else if (event.type === 'session.error') log(`  ! ${event.error.message}`);
    else if (event.type === 'session.status_idle' && event.stop_reason.type !== 'requires_action') break;
  }
  return { session, seen, outputs };
}

function summarise(input: Record<string, unknown>): string {
  if (typeof input.command === 'string') return `$ ${input.command}`;
  if (typeof input.file_path === 'string') return input.file_path + (typeof input.content === 'string' ? ` (${Buffer.byteLength(input.content)} bytes)` : '');
  return JSON.stringify(input).slice(0, 120);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const client = new Anthropic({ baseURL: process.env.OMA_URL ?? 'http://127.0.0.1:8080', apiKey: process.env.OMA_API_KEY });
  await sandboxDemo(client);
}
