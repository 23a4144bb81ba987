import type { Logger } from 'pino';
import type { Db } from '../db/interface.ts';
import type { SessionLog } from '../session/interface.ts';

/** What route modules get: storage, the session log, limits. Route modules read nothing global. */
export interface ApiDeps {
  db: Db;
  sessionLog: SessionLog;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Directory for blobs (uploaded files); under the data dir by default. */
  blobDir: string;
  logger?: Logger;
}
