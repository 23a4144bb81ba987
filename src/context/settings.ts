import { OmaError } from '../errors.ts';

/**
 * How a session's context is kept within the model's window: which strategy, against which window.
 * Chosen per agent by its metadata (the Managed Agents API has no field for it, and metadata is
 * where a drop-in client can say it without breaking the SDK's types), defaulting to the server's
 * settings (`OMA_CONTEXT_*`).
 *
 * Strategies, each including the one before:
 * - `none`: the log as it is (the request is the plain view of the log);
 * - `cache`: prompt-cache breakpoints, so consecutive requests share their longest prefix;
 * - `trim`: beyond a budget, old tool results and thinking become short placeholders;
 * - `compact` (default): beyond a threshold, the history is summarised by the model.
 * Whatever the strategy, a request the model refuses as too long is compacted and retried: a session
 * never fails for context length.
 */

export const STRATEGIES = ['none', 'cache', 'trim', 'compact'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export interface ContextSettings {
  strategy: StrategyName;
  /** The model's context window in tokens, as configured (what the model answers may lower it). */
  window: number;
  /** Compact when the estimated input passes this fraction of the input budget. */
  compactAt: number;
  /** Whether the model gets `read_session_log` (off by default). */
  sessionLogTool: boolean;
}

/** The server's defaults (`OMA_CONTEXT_STRATEGY`, `OMA_CONTEXT_WINDOW`, `OMA_COMPACT_AT`). */
export interface ContextDefaults {
  strategy: StrategyName;
  /** Unset: the model's nominal window. */
  window?: number;
  compactAt: number;
}

export const DEFAULT_CONTEXT: ContextDefaults = { strategy: 'compact', compactAt: 0.8 };

/** Agent metadata keys oma reads (all optional). */
export const CONTEXT_KEYS = {
  strategy: 'oma.context',
  window: 'oma.context_window',
  compactAt: 'oma.compact_at',
  sessionLogTool: 'oma.session_log_tool',
} as const;

export const MIN_WINDOW = 1_024;
const MAX_WINDOW = 10_000_000;

/** Claude models' window without the 1M-context beta; unknown models get the same. */
export function nominalWindow(_model: string): number {
  return 200_000;
}

/**
 * The settings of a session, from its agent's metadata over the server's defaults. Values were
 * checked when the agent was written (`checkContextMetadata`); one that is still wrong is ignored.
 */
export function contextSettings(model: string, metadata: Record<string, string> | undefined, defaults: ContextDefaults = DEFAULT_CONTEXT): ContextSettings {
  const parsed = safe(() => parseContextMetadata(metadata ?? {}));
  return {
    strategy: parsed?.strategy ?? defaults.strategy,
    window: parsed?.window ?? defaults.window ?? nominalWindow(model),
    compactAt: parsed?.compactAt ?? defaults.compactAt,
    sessionLogTool: parsed?.sessionLogTool ?? false,
  };
}

/** A 400 naming the key when an agent's `oma.*` context metadata is not valid. */
export function checkContextMetadata(metadata: Record<string, string>) {
  parseContextMetadata(metadata);
}

function parseContextMetadata(metadata: Record<string, string>): Partial<ContextSettings> {
  const settings: Partial<ContextSettings> = {};
  const strategy = metadata[CONTEXT_KEYS.strategy];
  if (strategy !== undefined) settings.strategy = parseStrategy(CONTEXT_KEYS.strategy, strategy);
  const window = metadata[CONTEXT_KEYS.window];
  if (window !== undefined) settings.window = parseWindow(CONTEXT_KEYS.window, window);
  const compactAt = metadata[CONTEXT_KEYS.compactAt];
  if (compactAt !== undefined) settings.compactAt = parseFraction(CONTEXT_KEYS.compactAt, compactAt);
  const tool = metadata[CONTEXT_KEYS.sessionLogTool];
  if (tool !== undefined) {
    if (tool !== 'enabled' && tool !== 'disabled') invalid(CONTEXT_KEYS.sessionLogTool, 'must be "enabled" or "disabled"', tool);
    settings.sessionLogTool = tool === 'enabled';
  }
  return settings;
}

export function parseStrategy(name: string, value: string): StrategyName {
  if (!(STRATEGIES as readonly string[]).includes(value)) invalid(name, `must be one of ${STRATEGIES.join(', ')}`, value);
  return value as StrategyName;
}

export function parseWindow(name: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < MIN_WINDOW || parsed > MAX_WINDOW) invalid(name, `must be a whole number of tokens from ${MIN_WINDOW} to ${MAX_WINDOW}`, value);
  return parsed;
}

export function parseFraction(name: string, value: string): number {
  const parsed = Number(value);
  if (!(value.trim() !== '' && Number.isFinite(parsed) && parsed >= 0.1 && parsed <= 0.95)) invalid(name, 'must be a fraction from 0.1 to 0.95', value);
  return parsed;
}

function invalid(name: string, rule: string, value: string): never {
  throw new OmaError('invalid_request', `${name} ${rule}, not ${JSON.stringify(value)}`, { details: { error_code: 'invalid_metadata' } });
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
