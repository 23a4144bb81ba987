import type { Logger } from 'pino';
import type { Previews } from '../brain/previews.ts';
import type { Db } from '../db/interface.ts';
import type { SessionLog } from '../session/interface.ts';
import type { SecretBox } from '../vaults/crypto.ts';

/** What route modules get: storage, the session log, limits. Route modules read nothing global. */
export interface ApiDeps {
  db: Db;
  sessionLog: SessionLog;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Default per-workspace request limits per minute (0 = unlimited). */
  rateLimits: { createPerMinute: number; readPerMinute: number };
  logger?: Logger;
  /** Called after a session's wake was requested, so this process's brains look at once. */
  onWake?: (sessionId: string) => void;
  /** Live previews from this process's brains, for streams that ask for `event_deltas`. */
  previews?: Previews;
  /** A work item's lease, granted at ack and extended by each heartbeat (`OMA_WORK_TTL_SECONDS`; default 60). */
  workTtlSeconds?: number;
  /** Seals stored secrets (credentials, repository tokens); absent when the server has no master key. */
  secrets?: SecretBox;
}
