import pino, { type Logger } from 'pino';

/** Structured logs (JSON lines) on stderr; stdout is kept for what commands print for people and scripts. */
export function createLogger(level: string = process.env.OMA_LOG_LEVEL || 'info'): Logger {
  return pino({ level, base: { pid: process.pid }, redact: ['*.apiKey', '*.key', '*.password', 'headers.authorization', 'headers["x-api-key"]'] }, pino.destination(2));
}
