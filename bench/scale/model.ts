import { performance } from 'node:perf_hooks';
import type { ModelRequest } from '../../src/model/interface.ts';
import { ScriptedModel, type ScriptStep } from '../../src/testing/scripted-model.ts';

/**
 * The scale benchmark's model, served to the workers by `startFakeModelServer`: every call answers one
 * short text after `latencyMs` (so each turn is one model call), and records when it first saw each
 * turn. A turn is named by its user message, whose text is a tag the driver chose (`c1 s17 t3`:
 * column, session, turn): the newest user message of a request says which turn it is.
 *
 * A tag marked `slowOnce` is answered after `slowMs` the first time it is seen (the take-over
 * measure: the turn is surely still held when its worker is killed), at `latencyMs` after that (the
 * call the new holder makes again).
 */
export class ScaleModel {
  /** Tag → `performance.now()` of the first request for it. */
  readonly seen = new Map<string, number>();
  /** Requests made, all tags. */
  calls = 0;
  readonly scripted: ScriptedModel;
  private readonly slow = new Set<string>();
  private waiters: { tags: string[]; resolve: () => void }[] = [];

  constructor(
    readonly latencyMs: number,
    readonly slowMs: number,
  ) {
    this.scripted = new ScriptedModel((request) => this.step(request));
  }

  slowOnce(tag: string) {
    this.slow.add(tag);
  }

  /** Forget what was recorded (between measures; the scripted model's request copies too). */
  reset() {
    this.seen.clear();
    this.scripted.requests.length = 0;
  }

  /** Resolves once every tag was seen; rejects after `timeoutMs`. */
  waitFor(tags: string[], timeoutMs: number): Promise<void> {
    if (tags.every((tag) => this.seen.has(tag))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const entry = { tags, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        reject(new Error(`the model saw ${tags.filter((tag) => this.seen.has(tag)).length} of ${tags.length} turns within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(entry);
    });
  }

  private step(request: ModelRequest): ScriptStep {
    const at = performance.now();
    this.calls++;
    this.scripted.requests.length = 0; // the copies are not used here: keep the bench's memory flat
    const tag = lastUserText(request) ?? '(untagged)';
    if (!this.seen.has(tag)) {
      this.seen.set(tag, at);
      this.waiters = this.waiters.filter((waiter) => (waiter.tags.every((each) => this.seen.has(each)) ? (waiter.resolve(), false) : true));
    }
    const slow = this.slow.delete(tag);
    return { content: [{ type: 'text', text: `ok ${tag}` }], delay_ms: slow ? this.slowMs : this.latencyMs };
  }
}

function lastUserText(request: ModelRequest): string | undefined {
  const message = request.messages.findLast((candidate) => candidate.role === 'user');
  if (!message) return undefined;
  if (typeof message.content === 'string') return message.content;
  const texts = message.content.filter((block): block is { type: 'text'; text: string } => block.type === 'text');
  return texts.at(-1)?.text;
}
