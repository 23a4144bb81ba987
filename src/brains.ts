import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Brain } from './brain/brain.ts';
import type { Previews } from './brain/previews.ts';
import { Scheduler } from './brain/scheduler.ts';
import { recordDispose } from './brain/tools.ts';
import type { Config } from './config.ts';
import type { Db } from './db/interface.ts';
import { AnthropicModel } from './model/anthropic.ts';
import type { Model } from './model/interface.ts';
import { openSandboxProvider, SandboxPool, type SandboxProvider } from './sandbox/index.ts';
import type { SessionLog } from './session/interface.ts';
import { WAKE_CHANNEL } from './session/wakes.ts';
import type { SecretBox } from './vaults/crypto.ts';

/** What tests (and embedders) may swap: the model and the sandbox provider. */
export interface BrainParts {
  model?: Model;
  sandboxes?: SandboxProvider;
}

export interface RunningBrains {
  brain: Brain;
  /** New work may be due: look now. */
  poke(): void;
  /** Stop claiming, let running turns finish (up to `graceMs`) or hand them back, dispose sandboxes. */
  stop(graceMs: number): Promise<void>;
}

/**
 * This process's brains: `config.brains` sessions at once, each on a wake it claimed. Woken at once
 * by this process's own API (`poke`) and, on PostgreSQL, by a notification per wake from any other
 * process (`oma serve` or `oma worker`); a poll catches anything a notification missed.
 */
export async function startBrains(config: Config, db: Db, log: SessionLog, previews: Previews, parts: BrainParts, logger?: Logger, secrets?: SecretBox): Promise<RunningBrains> {
  const sandboxes = parts.sandboxes ?? openSandboxProvider(config.sandbox, config.sandboxes);
  if (sandboxes instanceof SandboxPool) sandboxes.onDispose = (record) => recordDispose(log, record);
  const brain = new Brain({
    db,
    log,
    model: parts.model ?? new AnthropicModel(),
    sandboxes,
    owner: `${hostname()}:${process.pid}`,
    options: config.brain,
    previews,
    logger,
    secrets,
  });
  const scheduler = new Scheduler(brain, { concurrency: config.brains, pollMs: config.wakePollMs }, logger);
  const unlisten = db.kind === 'postgres' ? await db.listen(WAKE_CHANNEL, () => scheduler.poke(), () => scheduler.poke()) : undefined;
  scheduler.start();
  return {
    brain,
    poke: () => scheduler.poke(),
    async stop(graceMs) {
      await unlisten?.();
      await scheduler.stop(graceMs); // brains finish their turn, or hand their wake back
      if (sandboxes instanceof SandboxPool) await sandboxes.close();
    },
  };
}
