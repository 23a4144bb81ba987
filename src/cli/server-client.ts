import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { OmaError } from '../errors.ts';
import { SERVER_FILE } from '../server.ts';

/**
 * How oma's own commands reach a running server's admin routes (`/oma/v1`, decision 0003): at
 * `OMA_URL`, else where the server wrote it listens in the data directory, else `http://HOST:PORT`;
 * with `OMA_API_KEY`, else the key `scripts/run.sh` keeps in the data directory.
 */

/**
 * The server's address. The one written in the data directory counts only without HOST/PORT, and,
 * when `holderPid` is known (the process holding the directory), only if that process wrote it.
 */
export function serverUrl(config: Config, options: { holderPid?: unknown } = {}): string {
  if (process.env.OMA_URL) return process.env.OMA_URL.replace(/\/$/, '');
  if (!process.env.PORT && !process.env.HOST) {
    try {
      const written = JSON.parse(readFileSync(join(config.dataDir, SERVER_FILE), 'utf8')) as { pid: number; url: string };
      if (!('holderPid' in options) || written.pid === options.holderPid) return written.url;
    } catch {
      // not written (yet): fall back to HOST/PORT
    }
  }
  return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
}

/** OMA_API_KEY, else the key `scripts/run.sh` generated into the data directory. */
export function adminKey(config: Config): string | undefined {
  if (config.apiKey) return config.apiKey;
  try {
    return readFileSync(join(config.dataDir, 'api-key'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A caller of the admin routes of the server at `base`. `unreachable` words the failure when no server
 * answers (it gets the address and the cause); an error answer becomes an `OmaError` quoting the server.
 */
export function adminRoutes(base: string, apiKey: string, unreachable: (base: string, cause: string) => string) {
  return async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(`${base}/oma/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new OmaError('unavailable', unreachable(base, (error as Error).message));
    }
    const json = (await response.json().catch(() => ({}))) as { error?: { message: string } };
    if (!response.ok) throw new OmaError('invalid_request', `${base} answered ${response.status}: ${json.error?.message ?? 'unknown error'}`);
    return json as T;
  };
}
