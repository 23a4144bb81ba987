import assert from 'node:assert/strict';
import { it } from 'node:test';
import { failWorkerCalls, sweepWorkerTimeouts } from '../../src/brain/worker-calls.ts';
import { describeBrain, lastIdle, TOOLSET, userText, waitFor, waitForIdle } from '../brain/support.ts';

/**
 * The brain's side of self_hosted sessions, driven by a client that acts as the hands itself (as the
 * SDK's worker does): sandbox tool calls wait for `user.tool_result`; web tools and custom tools stay
 * where they were; calls no worker will answer become tool errors.
 */

const use = (name: string, input: Record<string, unknown>) => ({ content: [{ type: 'tool_use' as const, name, input }] });
const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });
let environments = 0;

describeBrain('self_hosted sessions: the brain routes sandbox tools to the worker', (harness) => {
  async function selfHostedSession(policy: 'always_allow' | 'always_ask' = 'always_allow') {
    const { client } = harness();
    const agent = await client.beta.agents.create({ name: 'remote hands', model: 'claude-sonnet-4-6', tools: [{ ...TOOLSET, default_config: { permission_policy: { type: policy } } }] } as never);
    const environment = await client.beta.environments.create({ name: `self-hosted ${++environments}`, config: { type: 'self_hosted' } } as never);
    return client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  }

  it('[WORK-6] a sandbox call is an agent.tool_use the session waits on (requires_action); the worker\'s user.tool_result resumes the model', async () => {
    const { client, scripts, sandbox } = harness();
    const session = await selfHostedSession();
    const { requests } = scripts.add('remote-bash', [use('bash', { command: 'hostname' }), text('It ran remotely.')]);
    await client.beta.sessions.events.send(session.id, { events: [userText('[remote-bash] where are you?')] });
    let events = await waitForIdle(client, session.id);
    const call = events.find((event) => event.type === 'agent.tool_use') as any;
    assert.equal(call.name, 'bash');
    assert.equal(call.evaluated_permission, 'allow');
    assert.deepEqual(lastIdle(events).stop_reason, { type: 'requires_action', event_ids: [call.id] });
    assert.equal(sandbox.calls.length, 0, 'nothing ran in an oma sandbox');
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_result', tool_use_id: call.id, content: [{ type: 'text', text: 'worker-host-7' }], is_error: false }] as never });
    events = await waitForIdle(client, session.id, { count: 2 });
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.match(JSON.stringify(requests[1]!.messages.at(-1)), /worker-host-7/, 'the worker\'s result reached the model');
  });

  it('[WORK-6] always_ask: after the confirmation the call is still the worker\'s; a denial is answered by oma', async () => {
    const { client, scripts, sandbox } = harness();
    const session = await selfHostedSession('always_ask');
    scripts.add('remote-ask', [use('write', { file_path: 'a.txt', content: 'x' }), text('Written.'), use('bash', { command: 'rm -rf /' }), text('Not run.')]);
    await client.beta.sessions.events.send(session.id, { events: [userText('[remote-ask] write a file')] });
    let events = await waitForIdle(client, session.id);
    const call = events.find((event) => event.type === 'agent.tool_use') as any;
    assert.equal(call.evaluated_permission, 'ask');
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: call.id, result: 'allow' }] });
    events = await waitFor(client, session.id, (all) => all.filter((event) => event.type === 'session.status_idle').length >= 2);
    assert.deepEqual(lastIdle(events).stop_reason, { type: 'requires_action', event_ids: [call.id] }, 'allowed, and waiting for the worker');
    assert.equal(sandbox.calls.length, 0);
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_result', tool_use_id: call.id, content: [{ type: 'text', text: 'wrote 1 byte' }] }] as never });
    events = await waitForIdle(client, session.id, { count: 3 });
    await client.beta.sessions.events.send(session.id, { events: [userText('now delete everything')] });
    events = await waitFor(client, session.id, (all) => all.filter((event) => event.type === 'agent.tool_use').length === 2 && lastIdle(all)?.stop_reason.type === 'requires_action');
    const second = events.filter((event) => event.type === 'agent.tool_use').at(-1) as any;
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_confirmation', tool_use_id: second.id, result: 'deny', deny_message: 'absolutely not' }] });
    events = await waitFor(client, session.id, (all) => all.some((event) => event.type === 'user.tool_result' && (event as any).tool_use_id === second.id) && lastIdle(all)?.stop_reason.type === 'end_turn');
    // Closed as the hands' answer, so a worker (which counts only user.tool_result) never runs it.
    const denied = events.find((event) => event.type === 'user.tool_result' && (event as any).tool_use_id === second.id) as any;
    assert.equal(denied.is_error, true);
    assert.equal(denied.content[0].text, 'absolutely not');
  });

  it('[WORK-6] a call whose worker lost its lease, or that timed out, becomes a tool error and the model goes on', async () => {
    const { client, scripts, oma } = harness();
    const session = await selfHostedSession();
    const { requests } = scripts.add('remote-lost', [use('bash', { command: 'sleep 600' }), text('The worker died; I will retry later.'), use('bash', { command: 'true' }), text('Timed out.'), text('Yes.')]);
    await client.beta.sessions.events.send(session.id, { events: [userText('[remote-lost] long job')] });
    let events = await waitForIdle(client, session.id);
    const call = events.find((event) => event.type === 'agent.tool_use') as any;
    assert.equal(await failWorkerCalls(oma.sessionLog, session.id, 'the worker is gone'), 1);
    events = await waitForIdle(client, session.id, { count: 2 });
    const result = events.find((event) => event.type === 'user.tool_result') as any;
    assert.deepEqual([result.tool_use_id, result.is_error, result.content[0].text], [call.id, true, 'the worker is gone']);
    assert.equal(lastIdle(events).stop_reason.type, 'end_turn');
    assert.match(JSON.stringify(requests[1]!.messages.at(-1)), /the worker is gone/);
    assert.equal(await failWorkerCalls(oma.sessionLog, session.id, 'again'), 0, 'nothing left open');
    // The timeout sweep: a call waiting longer than the timeout is closed the same way, also when the
    // user wrote meanwhile (the message waits behind the call, then goes to the model with its result).
    await client.beta.sessions.events.send(session.id, { events: [userText('once more')] });
    await waitFor(client, session.id, (all) => lastIdle(all)?.stop_reason.type === 'requires_action' && all.filter((event) => event.type === 'agent.tool_use').length === 2);
    await client.beta.sessions.events.send(session.id, { events: [userText('hello? still there?')] });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.ok((await sweepWorkerTimeouts(oma.db, oma.sessionLog, 1_000)) >= 1);
    events = await waitFor(client, session.id, (all) => lastIdle(all)?.stop_reason.type === 'end_turn' && all.filter((event) => event.type === 'user.tool_result').length === 2);
    assert.match((events.filter((event) => event.type === 'user.tool_result').at(-1) as any).content[0].text, /No worker answered this tool call within 1 s/);
  });

  it('[WORK-6] an interrupt closes a call waiting on the worker as the hands\' answer, so no worker runs it later', async () => {
    const { client, scripts } = harness();
    const session = await selfHostedSession();
    scripts.add('remote-interrupt', [use('bash', { command: 'echo never' }), text('Stopped.')]);
    await client.beta.sessions.events.send(session.id, { events: [userText('[remote-interrupt] go')] });
    let events = await waitForIdle(client, session.id);
    const call = events.find((event) => event.type === 'agent.tool_use') as any;
    await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });
    events = await waitFor(client, session.id, (all) => all.some((event) => (event as any).tool_use_id === call.id) && lastIdle(all)?.stop_reason.type === 'end_turn');
    const closed = events.find((event) => (event as any).tool_use_id === call.id) as any;
    assert.deepEqual([closed.type, closed.is_error], ['user.tool_result', true]);
    // A worker arriving late cannot answer it again.
    await assert.rejects(client.beta.sessions.events.send(session.id, { events: [{ type: 'user.tool_result', tool_use_id: call.id, content: [{ type: 'text', text: 'late' }] }] as never }), /not a pending agent.tool_use/);
  });

  it('[WORK-1] a session waiting on its worker gets a new work item when its item is stopped', async () => {
    const { client, scripts } = harness();
    const session = await selfHostedSession();
    scripts.add('remote-restock', [use('bash', { command: 'true' }), text('Done.')]);
    await client.beta.sessions.events.send(session.id, { events: [userText('[remote-restock] go')] });
    await waitForIdle(client, session.id);
    const environmentId = session.environment_id;
    const live = async () => (await client.beta.environments.work.list(environmentId)).data.filter((item) => item.data.id === session.id && item.state !== 'stopped');
    const [item] = await live();
    assert.ok(item, 'a live item while the call waits');
    await client.beta.environments.work.stop(item.id, { environment_id: environmentId, force: true });
    const [next] = await live();
    assert.ok(next && next.id !== item.id && next.state === 'queued', 'stopped with a call open: the next worker is asked for');
  });
});
