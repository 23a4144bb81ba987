/**
 * Context strategy benchmark: what `none`, `cache`, `trim` and `compact` send over one long session.
 *
 *   npm run bench -- context
 *
 * A 300-turn tool loop (a new user message every 50 turns, tool results cycling from 200 B to 12 KB)
 * is recorded once by the real brain on an embedded database with a scripted model and an echo
 * sandbox (src/testing/long-session.ts). Each strategy is then replayed over that recording
 * (src/context/replay.ts): at each recorded model request, the request the strategy would send, and
 * a compaction request (with a stand-in summary) where it would compact. Every request replayed goes
 * to a `ContextLimitedModel` (src/testing/context-model.ts), which refuses prompts above its window
 * and simulates the Messages API prompt cache, and whose per-request reports are what is tabled:
 * - first with a small window, so trimming and compaction matter (every strategy, `none` included,
 *   is still compacted when a request would not fit at all);
 * - then with a huge window, where nothing is trimmed or compacted: only the cache layout differs,
 *   so it isolates `none` vs `cache` (`trim` and `compact` then send exactly what `cache` sends).
 * Nothing here measures time but the recording and the replays; the figures are token counts and are
 * the same on every run.
 */
import { performance } from 'node:perf_hooks';
import { replay, type RecordedSession } from '../src/context/replay.ts';
import { STRATEGIES, type StrategyName } from '../src/context/settings.ts';
import { budgetFor } from '../src/context/view.ts';
import { accumulate } from '../src/model/accumulate.ts';
import { ContextLimitedModel, type ContextReport } from '../src/testing/context-model.ts';
import { recordLongSession } from '../src/testing/long-session.ts';
import { ScriptedModel } from '../src/testing/scripted-model.ts';
import { environmentLine, integer, loadAverage, percentile } from './lib/stats.ts';

const TURNS = 300;
const TURNS_PER_MESSAGE = 50;
const WINDOW = 60_000;
const HUGE_WINDOW = 1_000_000;
const MAX_TOKENS = 8_192;
/** The fake tokenizer; oma's own estimate is also characters / 4, so its calibration stays near 1. */
const CHARS_PER_TOKEN = 4;
/** Replay defaults, stated in the output. */
const COMPACT_AT = 0.8;
const SUMMARY_CHARS = 4_000;
/** Anthropic's prices relative to base input tokens. */
const PRICE = { cacheRead: 0.1, cacheWrite: 1.25, uncached: 1 };

interface Replayed {
  turns: ContextReport[];
  compactions: ContextReport[];
  seconds: number;
}

/** Replays one strategy against a fresh ContextLimitedModel; reports split by kind. */
async function run(session: RecordedSession, strategy: StrategyName, window: number): Promise<Replayed> {
  const model = new ContextLimitedModel(new ScriptedModel([], { whenExhausted: 'end_turn' }), { window, charsPerToken: CHARS_PER_TOKEN });
  const kinds: ('turn' | 'compaction')[] = [];
  const started = performance.now();
  await replay(session, {
    strategy,
    window,
    maxTokens: MAX_TOKENS,
    compactAt: COMPACT_AT,
    summaryChars: SUMMARY_CHARS,
    send: async (request, kind) => {
      kinds.push(kind);
      try {
        await accumulate(model.stream(request), { onBlock() {} });
      } catch {
        // A refusal (prompt too long): its report says so and is counted below.
      }
    },
  });
  const seconds = (performance.now() - started) / 1_000;
  if (model.reports.length !== kinds.length) throw new Error(`${strategy}: ${kinds.length} requests sent but ${model.reports.length} reports`);
  const recorded = session.events.filter((event) => event.type === 'span.model_request_start').length;
  const turns = model.reports.filter((_, index) => kinds[index] === 'turn');
  if (turns.length !== recorded) throw new Error(`${strategy}: ${turns.length} turn requests replayed, the recording has ${recorded}`);
  return { turns, compactions: model.reports.filter((_, index) => kinds[index] === 'compaction'), seconds };
}

const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
const mean = (values: readonly number[]) => (values.length === 0 ? NaN : sum(values) / values.length);
const percent = (value: number) => `${(100 * value).toFixed(1)} %`;
const effective = (reports: readonly ContextReport[]) => sum(reports.map((r) => PRICE.cacheRead * r.cacheRead + PRICE.cacheWrite * r.cacheWrite + PRICE.uncached * r.uncached));

const COLUMNS = [
  'strategy',
  'turn requests',
  'compaction requests',
  'tokens/turn mean',
  'p50',
  'p95',
  'max',
  'total input tokens',
  'prefix ratio mean',
  'turns ≥ 0.95',
  'cache read / input',
  'effective input (× none)',
  'refusals',
];

/** One row per strategy, cells in COLUMNS order; `none` is the baseline of the effective cost. */
function rows(results: Map<StrategyName, Replayed>): string[][] {
  const baseline = effective([...results.get('none')!.turns, ...results.get('none')!.compactions]);
  return STRATEGIES.map((strategy) => {
    const { turns, compactions } = results.get(strategy)!;
    const all = [...turns, ...compactions];
    const tokens = Array.from(Float64Array.from(turns.map((r) => r.tokens)).sort());
    const total = sum(all.map((r) => r.tokens));
    const ratios = turns.map((r) => r.prefixRatio);
    const cost = effective(all);
    return [
      strategy,
      integer(turns.length),
      integer(compactions.length),
      integer(mean(tokens)),
      integer(percentile(tokens, 50)),
      integer(percentile(tokens, 95)),
      integer(tokens.at(-1)!),
      integer(total),
      mean(ratios).toFixed(3),
      percent(ratios.filter((ratio) => ratio >= 0.95).length / turns.length),
      percent(sum(all.map((r) => r.cacheRead)) / total),
      `${integer(cost)} (${(cost / baseline).toFixed(2)}×)`,
      integer(all.filter((r) => r.refused).length),
    ];
  });
}

/** Printed like bench/lib/table.ts's tables, but one row per strategy (the shared Table has a row per measure). */
function printTable(title: string, how: string, body: string[][]) {
  console.log(`\n## ${title}\n`);
  console.log(`How measured: ${how}\n`);
  console.log(`| ${COLUMNS.join(' | ')} |`);
  console.log(`| --- | ${COLUMNS.slice(1).map(() => '---:').join(' | ')} |`);
  for (const row of body) console.log(`| ${row.join(' | ')} |`);
}

async function replayAll(session: RecordedSession, window: number) {
  const results = new Map<StrategyName, Replayed>();
  for (const strategy of STRATEGIES) results.set(strategy, await run(session, strategy, window));
  const seconds = sum([...results.values()].map((result) => result.seconds));
  const refused = sum([...results.values()].map((result) => [...result.turns, ...result.compactions].filter((r) => r.refused).length));
  return { results, seconds, refused };
}

export async function main(): Promise<void> {
  console.log(`Environment: ${environmentLine()}`);
  const began = performance.now();
  const session = await recordLongSession({ turns: TURNS, turnsPerMessage: TURNS_PER_MESSAGE });
  const recordSeconds = (performance.now() - began) / 1_000;
  console.log(`Recorded a ${TURNS}-turn session (a user message every ${TURNS_PER_MESSAGE} turns, default tool output mix): ${integer(session.events.length)} events in ${recordSeconds.toFixed(1)} s.`);

  const budget = budgetFor(WINDOW, MAX_TOKENS, COMPACT_AT);
  const common =
    `the recording replayed once per strategy (src/context/replay.ts, compactAt ${COMPACT_AT}, stand-in summaries of ${integer(SUMMARY_CHARS)} chars), ` +
    `every request sent to a ContextLimitedModel (charsPerToken ${CHARS_PER_TOKEN}, maxTokens ${integer(MAX_TOKENS)}). ` +
    `Tokens per turn: the model's count for the ${TURNS} turn requests (nearest-rank percentiles); total input: all requests, compaction requests included. ` +
    `Prefix ratio: bytes of a turn request shared with the previous request's prefix (whichever kind it was) / its bytes, 0 for the first. ` +
    `Cache read / input and effective input: all requests, from the model's simulated prompt cache (cache reads at ${PRICE.cacheRead}×, cache writes at ${PRICE.cacheWrite}×, uncached input at ${PRICE.uncached}× the base input price), in base-input token-equivalents; (× none): relative to none's.`;

  const small = await replayAll(session, WINDOW);
  printTable(
    `Context strategies, window ${integer(WINDOW)} tokens`,
    `${common} Window ${integer(WINDOW)}: input budget ${integer(budget.input)} tokens, trimming past ${integer(budget.trimAt)} (steps of ${integer(budget.trimStep)}), compaction past ${integer(budget.compactAt)} (compact only) or when a request would not fit (any strategy). Replays took ${small.seconds.toFixed(1)} s.`,
    rows(small.results),
  );

  const huge = await replayAll(session, HUGE_WINDOW);
  printTable(
    `Cache layout alone, window ${integer(HUGE_WINDOW)} tokens`,
    `as above with a window of ${integer(HUGE_WINDOW)} tokens, so that nothing is trimmed or compacted: the strategies differ only by the cache layout (trim and compact send what cache sends). Replays took ${huge.seconds.toFixed(1)} s.`,
    rows(huge.results),
  );

  console.log(`\nLoad average at the end: ${loadAverage()} (this run's own load included); run took ${Math.round((performance.now() - began) / 1_000)} s.`);
  if (small.refused + huge.refused > 0) throw new Error(`${small.refused + huge.refused} requests were refused as too long`);
}
