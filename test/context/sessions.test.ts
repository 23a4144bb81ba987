import type Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ModelRequest } from '../../src/model/interface.ts';
import { isCompactionRequest } from '../../src/context/compaction.ts';
import { ContextLimitedModel } from '../../src/testing/context-model.ts';
import type { ScriptStep } from '../../src/testing/scripted-model.ts';
import { checkMessages, describeBrain, lastIdle, newSession, userText, waitFor, waitForIdle } from '../brain/support.ts';

/**
 * Long sessions against a model that enforces a context window (it refuses "prompt is too long"
 * above it, counting tokens more densely than oma's estimate) and simulates the prompt cache.
 * Each test uses its own model id, since windows learned from refusals are shared per model.
 */

const FAKE_CHARS_PER_TOKEN = 3;

type Result = { tool_use_id?: string; content?: { type: string; text?: string }[] | string };

/** The tool results of a request's messages, by tool_use id. */
function resultsOf(request: ModelRequest): Map<string, string> {
  const results = new Map<string, string>();
  for (const message of request.messages) {
    if (typeof message.content === 'string') continue;
    for (const block of message.content as { type: string }[]) {
      if (block.type !== 'tool_result') continue;
      const result = block as Result;
      const content = typeof result.content === 'string' ? result.content : (result.content ?? []).map((part) => part.text ?? '').join('');
      results.set(result.tool_use_id!, content);
    }
  }
  return results;
}

/**
 * A tool loop of `rounds` bash calls answering `bytes` bytes each, then a final message; compaction
 * requests get a summary. `commandChars` pads each command (tool inputs are never trimmed);
 * `onRound(n)` runs before round n is answered.
 */
function toolLoop(rounds: number, bytes: number, options: { commandChars?: number; onRound?: (round: number) => void } = {}) {
  let done = 0;
  return (request: ModelRequest): ScriptStep => {
    if (isCompactionRequest(request)) return { content: [{ type: 'text', text: `Summary: ${done} build steps ran, each printing ${bytes} bytes of x; keep going with the next step.` }] };
    if (done >= rounds) return { content: [{ type: 'text', text: 'All steps done.' }] };
    done++;
    options.onRound?.(done);
    const command = `make step-${done}`.padEnd(options.commandChars ?? 0, ' ');
    return { content: [{ type: 'tool_use', name: 'bash', input: { command, output_bytes: bytes } }] };
  };
}

function agentFor(name: string, metadata: Record<string, string> = {}) {
  return { model: `claude-ctx-${name}`, system: `[${name}] You are a build engineer.`, metadata };
}

/** A session of `agent` sent `text`, once its turn is over. */
async function runToIdle(client: Anthropic, agent: ReturnType<typeof agentFor>, text: string, timeoutMs: number) {
  const session = await newSession(client, agent);
  await client.beta.sessions.events.send(session.id, { events: [userText(text)] });
  return { session, events: await waitForIdle(client, session.id, { timeoutMs }) };
}

describeBrain<ContextLimitedModel>(
  'context: long sessions against a context-limited model',
  (harness) => {
    it('[CTX-5] [CTX-3] [CTX-4] [CTX-1] a 2,000-event session with large tool results runs to the end: compactions in its log, no failure, every event still listed whole', async () => {
      const { client, scripts, model, oma } = harness();
      model.window = 20_000;
      const reportsBefore = model.reports.length;
      const rounds = 500;
      const { requests } = scripts.add('long', toolLoop(rounds, 6_000));
      const { session, events } = await runToIdle(client, agentFor('long', { 'oma.context_window': '20000' }), 'Run all the build steps.', 240_000);
      assert.deepEqual(lastIdle(events).stop_reason, { type: 'end_turn' });
      assert.deepEqual(events.filter((event) => event.type === 'session.error'), []);
      assert.ok(events.length >= 2_000, `${events.length} events`);

      // Compactions: in the log, mid-turn (no status change around them), public shape only.
      const compactions = events.filter((event) => event.type === 'agent.thread_context_compacted');
      assert.ok(compactions.length >= 1, 'compacted at least once');
      for (const compaction of compactions) {
        assert.equal(typeof compaction.pre_compaction_tokens, 'number');
        assert.equal('_oma' in compaction, false);
      }
      assert.equal(events.filter((event) => event.type === 'session.status_running').length, 1, 'one running period: compaction changes no status');

      // The log is complete: every tool result listed whole, events.list = the log minus internal events.
      const results = events.filter((event) => event.type === 'agent.tool_result');
      assert.equal(results.length, rounds);
      for (const result of results) assert.equal((result.content as { text: string }[])[0]!.text, 'x'.repeat(6_000));
      const logged = (await oma.sessionLog.read(session.id)).filter((event) => !event.type.startsWith('oma.'));
      assert.deepEqual(events.map((event) => event.id), logged.map((event) => event.id));

      // Every request fit and was valid; every tool output reached the model whole before it was trimmed or summarised.
      const reports = model.reports.slice(reportsBefore);
      assert.equal(reports.filter((report) => report.refused).length, 0, 'the model never refused a prompt');
      const turns = requests.filter((request) => !isCompactionRequest(request));
      for (const request of turns) checkMessages(request.messages);
      const seenWhole = new Set<string>();
      for (const request of turns) for (const [id, text] of resultsOf(request)) if (text === 'x'.repeat(6_000)) seenWhole.add(id);
      const uses = events.filter((event) => event.type === 'agent.tool_use').map((event) => event.id);
      assert.deepEqual(uses.filter((id) => !seenWhole.has(id)), [], 'every tool result was sent whole at least once');
      // Later requests start from the summary.
      const afterCompaction = turns.at(-1)!.messages[0]!.content as { type: string; text?: string }[];
      assert.match(afterCompaction[0]!.text!, /<summary>\nSummary: \d+ build steps ran/);
      const trimmed = turns.at(-1)!.messages.flatMap((message) => message.content as { type: string; content?: { text: string }[] }[]).filter((block) => block.type === 'tool_result' && block.content?.[0]?.text.startsWith('[tool result trimmed'));
      assert.ok(trimmed.length > 0, 'old tool results are trimmed to placeholders');
      assert.match(trimmed[0]!.content![0]!.text, /event sevt_\w+/);
    });

    it('[CTX-7] a newest tool result larger than the whole window is cut to fit, naming its event; the session recovers', async () => {
      const { client, scripts, model } = harness();
      model.window = 8_000;
      const { requests } = scripts.add('huge', [
        { content: [{ type: 'tool_use', name: 'bash', input: { command: 'cat build.log', output_bytes: 60_000 } }] },
        { content: [{ type: 'tool_use', name: 'bash', input: { command: 'tail -1 build.log', output_bytes: 100 } }] },
        { content: [{ type: 'text', text: 'The log is long; I read its start and its end.' }] },
      ]);
      const { session, events } = await runToIdle(client, agentFor('huge', { 'oma.context_window': '8000', 'oma.context': 'cache' }), 'Show me the build log.', 20_000);
      assert.deepEqual(lastIdle(events).stop_reason, { type: 'end_turn' });
      assert.deepEqual(events.filter((event) => event.type === 'session.error'), []);
      const result = events.find((event) => event.type === 'agent.tool_result')!;
      assert.equal((result.content as { text: string }[])[0]!.text.length, 60_000, 'the log keeps the whole result');
      const sent = [...resultsOf(requests[1]!).values()][0]!;
      assert.ok(sent.length < 30_000, `cut to ${sent.length} characters`);
      assert.match(sent, new RegExp(`characters were cut from the middle of this tool result \\(event ${result.id}\\)`));
      assert.ok(sent.startsWith('xxxx') && sent.endsWith('xxxx'), 'its start and its end are kept');
      // Shown cut once, it stays cut the same way (any strategy fits; `cache` does not trim it later):
      // the next request extends this one, no compaction needed.
      assert.equal(requests.length, 3);
      assert.equal(resultsOf(requests[2]!).get(result.tool_use_id as string), sent);
      assert.deepEqual(requests[2]!.messages.slice(0, requests[1]!.messages.length - 1), requests[1]!.messages.slice(0, -1));
    });

    it('[CTX-6] "prompt is too long" teaches the model\'s real window: compaction or cutting, a retry, and never the same refusal twice; the next session starts with it', async () => {
      const { client, scripts, model, oma } = harness();
      model.window = 12_000;
      const before = model.reports.length;
      scripts.add('learn', toolLoop(60, 3_000));
      const { session, events } = await runToIdle(client, agentFor('learn'), 'Run the build steps.', 60_000);
      assert.deepEqual(lastIdle(events).stop_reason, { type: 'end_turn' });
      assert.deepEqual(events.filter((event) => event.type === 'session.error'), [], 'a refusal is recovered from, not reported as an error');
      const refused = model.reports.slice(before).filter((report) => report.refused);
      assert.equal(refused.length, 1, 'refused once, never again');
      const learned = (await oma.sessionLog.read(session.id)).filter((event) => event.type === 'oma.span' && event.payload.name === 'context.window');
      assert.equal(learned.length, 1);
      assert.equal(learned[0]!.payload.window, 12_000);
      assert.equal(learned[0]!.payload.model, 'claude-ctx-learn');
      const failedEnds = events.filter((event) => event.type === 'span.model_request_end' && event.is_error === true);
      assert.equal(failedEnds.length, 1, 'the refused request shows as one failed model request');

      // Another session of the same model: the window is known, nothing is refused.
      const second = model.reports.length;
      scripts.add('learn-again', toolLoop(40, 3_000));
      const next = await newSession(client, { ...agentFor('learn'), system: '[learn-again] You are a build engineer.' });
      await client.beta.sessions.events.send(next.id, { events: [userText('Run the build steps.')] });
      const nextEvents = await waitForIdle(client, next.id, { timeoutMs: 60_000 });
      assert.deepEqual(lastIdle(nextEvents).stop_reason, { type: 'end_turn' });
      assert.equal(model.reports.slice(second).filter((report) => report.refused).length, 0);
    });

    it('[CTX-4] [CTX-6] the window shrinks mid-session below what even the compaction request needs: it is summarised in chunks that each fit', async () => {
      const { client, scripts, model, oma } = harness();
      model.window = 60_000;
      const before = model.reports.length;
      const { requests } = scripts.add('chunks', toolLoop(40, 100, { commandChars: 3_000, onRound: (round) => round === 31 && (model.window = 12_000) }));
      const { session, events } = await runToIdle(client, agentFor('chunks'), 'Run the build steps.', 60_000);
      assert.deepEqual(lastIdle(events).stop_reason, { type: 'end_turn' });
      assert.deepEqual(events.filter((event) => event.type === 'session.error'), []);
      const reports = model.reports.slice(before);
      assert.equal(reports.filter((report) => report.refused).length, 1, 'one refusal, when the window shrank');
      const compacted = (await oma.sessionLog.read(session.id)).filter((event) => event.type === 'agent.thread_context_compacted');
      assert.ok(compacted.length >= 1);
      const own = compacted[0]!.payload._oma as { requests: number; reason: string; summary: string };
      assert.equal(own.reason, 'window');
      assert.ok(own.requests >= 3, `summarised in ${own.requests} requests`);
      // Later compactions (past the threshold of the smaller window) fit whole again.
      const chunkRequests = requests.filter(isCompactionRequest).slice(0, own.requests);
      assert.match((chunkRequests.at(-1)!.messages[0]!.content as { text: string }[])[0]!.text, /^Summary of everything before this part:\n<summary>\nSummary: /);
      for (const report of reports.slice(reports.findIndex((report) => report.refused) + 1)) assert.ok(report.tokens <= 12_000, `a request of ${report.tokens} tokens`);
    });

    it('[CTX-6] the other wording, "input length and max_tokens exceed context limit: N + K > M", is recovered from the same way', async () => {
      const { client, scripts, model } = harness();
      model.window = 12_000;
      model.countMaxTokens = true;
      const before = model.reports.length;
      try {
        scripts.add('max-tokens', toolLoop(40, 3_000));
        const { events } = await runToIdle(client, agentFor('max-tokens'), 'Run the build steps.', 60_000);
        assert.deepEqual(lastIdle(events).stop_reason, { type: 'end_turn' });
        assert.deepEqual(events.filter((event) => event.type === 'session.error'), []);
        const refused = model.reports.slice(before).filter((report) => report.refused);
        assert.equal(refused.length, 1, 'refused once, never again');
      } finally {
        model.countMaxTokens = false;
      }
    });

    it('[CTX-7] a message larger than the window, sent while the brain compacts, is cut when it is taken; the session goes on', async () => {
      const { client, scripts, model } = harness();
      model.window = 8_000;
      let sessionId = '';
      let sent = false;
      const loop = toolLoop(20, 100, { commandChars: 2_000 });
      const { requests } = scripts.add('queued', (request: ModelRequest): ScriptStep => {
        if (isCompactionRequest(request) && !sent) {
          sent = true; // the user pastes a huge log while the summary is being written
          void client.beta.sessions.events.send(sessionId, { events: [userText('y'.repeat(60_000))] });
          return { delay_ms: 1_500, content: [{ type: 'text', text: 'Summary: build steps ran.' }] };
        }
        return loop(request);
      });
      const session = await newSession(client, agentFor('queued', { 'oma.context_window': '8000' }));
      sessionId = session.id;
      await client.beta.sessions.events.send(session.id, { events: [userText('Run the build steps.')] });
      const events = await waitFor(client, session.id, (all) => all.filter((event) => event.type === 'session.status_idle').length > 0 && all.filter((event) => event.type === 'user.message').length === 2 && all.at(-1)!.type === 'session.status_idle', 60_000);
      assert.ok(sent, 'the message was sent during a compaction');
      assert.deepEqual(events.filter((event) => event.type === 'session.error'), []);
      assert.deepEqual(lastIdle(events).stop_reason, { type: 'end_turn' });
      const pasted = events.filter((event) => event.type === 'user.message')[1]!;
      const shown = requests.find((request) => JSON.stringify(request).includes(`this message (event ${pasted.id})`));
      assert.ok(shown, 'the pasted message reached the model cut, naming its event');
    });

    it('[CTX-8] a window nothing fits in: bounded attempts, then compaction_limit_reached_error and a clean idle; the log is intact', async () => {
      const { client, scripts, model } = harness();
      model.window = 40; // less than the system prompt and tools
      const before = model.reports.length;
      scripts.add('tiny', () => ({ content: [{ type: 'text', text: 'never reached' }] }));
      const { session, events } = await runToIdle(client, agentFor('tiny'), 'Hello.', 20_000);
      assert.deepEqual(lastIdle(events).stop_reason, { type: 'retries_exhausted' });
      const errors = events.filter((event) => event.type === 'session.error');
      assert.equal(errors.length, 1);
      const error = errors[0]!.error as { type: string; message: string; retry_status: { type: string } };
      assert.equal(error.type, 'compaction_limit_reached_error');
      assert.equal(error.retry_status.type, 'exhausted');
      assert.match(error.message, /prompt is too long/);
      assert.equal(model.reports.slice(before).filter((report) => report.refused).length, 3);
      assert.equal((await client.beta.sessions.retrieve(session.id)).status, 'idle');
      assert.equal(events.filter((event) => event.type === 'user.message').length, 1);
    });

    it('[CTX-2] [CTX-10] the cache layout keeps ≥ 95% of each request\'s bytes in the previous request\'s prefix on a long tool loop; usage reports the cache', async () => {
      const { client, scripts, model } = harness();
      model.window = 1_000_000;
      const before = model.reports.length;
      scripts.add('cache', toolLoop(80, 1_500));
      const { session, events } = await runToIdle(client, agentFor('cache'), 'Run the build steps.', 60_000);
      assert.deepEqual(lastIdle(events).stop_reason, { type: 'end_turn' });
      const reports = model.reports.slice(before);
      assert.equal(reports.length, 81);
      // Once a round is under 5% of the request (request 25 on), every request shares ≥ 95% with the previous one, and reads it from the cache.
      for (const [index, report] of reports.entries()) {
        assert.ok(report.breakpoints >= 2 && report.breakpoints <= 4, `request ${index}: ${report.breakpoints} breakpoints`);
        if (index < 25) continue;
        assert.ok(report.prefixRatio >= 0.95, `request ${index}: prefix ratio ${report.prefixRatio}`);
        assert.ok(report.cacheRead >= 0.9 * report.tokens, `request ${index}: read ${report.cacheRead} of ${report.tokens} tokens from the cache`);
      }
      // Token accounting: each request's usage in its span, the sums in session.usage.
      const ends = events.filter((event) => event.type === 'span.model_request_end');
      const sum = (key: string) => ends.reduce((total, event) => total + ((event.model_usage as unknown as Record<string, number>)[key] ?? 0), 0);
      assert.deepEqual(
        ends.map((event) => (event.model_usage as unknown as Record<string, number>).cache_read_input_tokens),
        reports.map((report) => report.cacheRead),
      );
      const usage = lastUsage(events);
      assert.equal(usage.input_tokens, sum('input_tokens'));
      assert.equal(usage.cache_read_input_tokens, sum('cache_read_input_tokens'));
      assert.equal(usage.cache_creation.ephemeral_5m_input_tokens, sum('cache_creation_input_tokens'));
      assert.ok(usage.cache_read_input_tokens > 10 * usage.input_tokens, 'most input was read from the cache');
    });

    it('[CTX-1] [CTX-2] strategy "none" sends the plain view: no breakpoints, nothing read from the cache', async () => {
      const { client, scripts, model } = harness();
      model.window = 1_000_000;
      const before = model.reports.length;
      scripts.add('plain', toolLoop(10, 1_500));
      const { session, events } = await runToIdle(client, agentFor('plain', { 'oma.context': 'none' }), 'Run the build steps.', 30_000);
      assert.deepEqual(lastIdle(events).stop_reason, { type: 'end_turn' });
      const reports = model.reports.slice(before);
      assert.equal(reports.length, 11);
      for (const report of reports) {
        assert.equal(report.breakpoints, 0);
        assert.equal(report.cacheRead, 0);
      }
    });
  },
  { wrap: (model) => new ContextLimitedModel(model, { window: 20_000, charsPerToken: FAKE_CHARS_PER_TOKEN }), config: { brain: { maxToolCallsPerTurn: 10_000 } as never } },
);

function lastUsage(events: { type: string }[]) {
  return (events.filter((event) => event.type === 'session.usage').at(-1) as unknown as { usage: { input_tokens: number; cache_read_input_tokens: number; cache_creation: { ephemeral_5m_input_tokens: number } } }).usage;
}
