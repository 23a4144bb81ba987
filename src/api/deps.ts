import type { Logger } from 'pino';
import type { Db } from '../db/interface.ts';
import type { SessionLog } from '../session/interface.ts';

/** What route modules get: storage, the session log, limits. Route modules read nothing global. */
export interface ApiDeps {
  db: Db;
  sessionLog: SessionLog;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Default per-workspace request limits per minute (0 = unlimited). */
  rateLimits: { createPerMinute: number; readPerMinute: number };
  logger?: Logger;
}
