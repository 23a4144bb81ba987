import type { StoredEvent } from '../session/interface.ts';
import type { SessionHistory, ToolUse } from './history.ts';

/**
 * The brain's next step, as a pure function of what the log says. The loop performs the step,
 * folds what it appended, and asks again, until `done`.
 */
export type Step =
  /** Nothing to do (idle and answered, waiting on the client, or terminated). */
  | { type: 'done' }
  /** Apply interrupts: close every open tool use, go idle `end_turn`. */
  | { type: 'interrupt'; interrupts: StoredEvent[] }
  /** Sandbox calls that were authorised but have no result (their brain died). */
  | { type: 'recover'; uses: ToolUse[] }
  /** Tell the client what it must answer: idle `requires_action`. */
  | { type: 'requires_action'; eventIds: string[] }
  /** Take the client's confirmations: run what was allowed, report what was denied. */
  | { type: 'confirm'; confirmations: StoredEvent[] }
  /** Call the model, first taking queued messages. */
  | { type: 'model'; take: StoredEvent[] }
  /** The turn's last response is in: record usage, go idle `end_turn`. */
  | { type: 'end_turn' };

export function decide(history: SessionHistory): Step {
  if (history.status === 'terminated') return { type: 'done' };
  const interrupts = history.queuedOf('user.interrupt');
  if (interrupts.length > 0) return { type: 'interrupt', interrupts };
  const unfinished = history.unfinished();
  if (unfinished.length > 0) return { type: 'recover', uses: unfinished };
  const awaiting = history.awaitingClient().map((use) => use.event.id);
  if (awaiting.length > 0) {
    const told = history.status === 'idle' && history.lastStopReason?.type === 'requires_action' && sameSet(history.lastStopReason.event_ids ?? [], awaiting);
    return told ? { type: 'done' } : { type: 'requires_action', eventIds: awaiting };
  }
  const confirmations = history.queuedOf('user.tool_confirmation');
  if (confirmations.length > 0) return { type: 'confirm', confirmations };
  const take = history.queuedOf('user.message', 'system.message');
  if (take.length > 0 || history.needsModel()) return { type: 'model', take };
  if (history.status !== 'idle') return { type: 'end_turn' };
  return { type: 'done' };
}

function sameSet(a: string[], b: string[]) {
  return a.length === b.length && a.every((id) => b.includes(id));
}
