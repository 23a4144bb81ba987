import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../api/http.ts';
import type { Principal, PrincipalScope } from '../auth/keys.ts';
import type { Queryable } from '../db/interface.ts';
import { OmaError } from '../errors.ts';
import { findEnvironmentKey } from './keys.ts';
import { findTokenHolder, hasLiveWork } from './store.ts';

/**
 * The credentials of worker hosts and what they may do (spec hands-and-credentials §0.4, §11). An API
 * key (no `scope`) passes untouched. Every other principal may call only the routes of its table
 * below; anything else is 403. A route of the table naming another environment, work item or session
 * than the credential's is 404, as if it did not exist.
 *
 * - environment key: poll, ack and list its environment's work; and, as the SDK's fallback when an
 *   item carries no usable secret, heartbeat/stop of its items and the session routes the worker uses,
 *   for sessions with a live item in that environment;
 * - sessions token (from a poll's `secret`): heartbeat/stop of its own item, and its session's
 *   retrieve and events (list, stream, send), while the item is live and the token current.
 *
 * Paths are matched raw and ids compared exactly: an encoded or odd id never matches, so it is refused.
 */

type Kind = PrincipalScope['kind'];

interface Rule {
  method: 'GET' | 'POST';
  pattern: RegExp;
  kinds: Kind[];
}

const WORK = '^/v1/environments/(?<environment>[^/]+)/work';
const SESSION = '^/v1/sessions/(?<session>[^/]+)';

const RULES: Rule[] = [
  { method: 'GET', pattern: new RegExp(`${WORK}/poll$`), kinds: ['environment'] },
  { method: 'POST', pattern: new RegExp(`${WORK}/(?<work>[^/]+)/ack$`), kinds: ['environment'] },
  { method: 'GET', pattern: new RegExp(`${WORK}$`), kinds: ['environment'] },
  { method: 'POST', pattern: new RegExp(`${WORK}/(?<work>[^/]+)/heartbeat$`), kinds: ['environment', 'work'] },
  { method: 'POST', pattern: new RegExp(`${WORK}/(?<work>[^/]+)/stop$`), kinds: ['environment', 'work'] },
  { method: 'GET', pattern: new RegExp(`${SESSION}$`), kinds: ['environment', 'work'] },
  { method: 'GET', pattern: new RegExp(`${SESSION}/events$`), kinds: ['environment', 'work'] },
  { method: 'GET', pattern: new RegExp(`${SESSION}/events/stream$`), kinds: ['environment', 'work'] },
  { method: 'POST', pattern: new RegExp(`${SESSION}/events$`), kinds: ['environment', 'work'] },
];

/** The principal of an environment key or a current sessions token; undefined for anything else. */
export async function authenticateWorkerCredential(db: Queryable, key: string): Promise<Principal | undefined> {
  const environmentKey = await findEnvironmentKey(db, key);
  if (environmentKey) {
    return { workspaceId: environmentKey.workspaceId, keyId: environmentKey.id, admin: false, scope: { kind: 'environment', environmentId: environmentKey.environmentId } };
  }
  const holder = await findTokenHolder(db, key);
  if (holder) {
    return {
      workspaceId: holder.workspaceId,
      keyId: holder.workId,
      admin: false,
      scope: { kind: 'work', environmentId: holder.environmentId, workId: holder.workId, sessionId: holder.sessionId, stopped: holder.stopped },
    };
  }
  return undefined;
}

function describe(scope: PrincipalScope): string {
  return scope.kind === 'environment'
    ? `this is an environment key of ${scope.environmentId}: it may only poll, acknowledge and list that environment's work, and serve its work items (heartbeat, stop, the session's retrieve and events)`
    : `this is the sessions token of work item ${scope.workId}: it may only heartbeat and stop that item, and retrieve session ${scope.sessionId} and list, stream and send its events`;
}

const missing = (what: string, id: string) =>
  new OmaError('not_found', `${what} ${JSON.stringify(id)} was not found`, what === 'environment' ? { details: { error_code: 'environment_not_found' } } : {});

/** Refuse what a scoped principal may not do. Runs after authentication, before any route. */
export function scopeGuard(db: Queryable): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const scope = c.get('principal').scope;
    if (!scope) return next();
    // HEAD is not GET here: a HEAD poll would hand out an item nobody receives.
    const method = c.req.method;
    const path = c.req.path;
    let groups: Record<string, string> | undefined;
    const rule = RULES.find((candidate) => candidate.method === method && (groups = candidate.pattern.exec(path)?.groups ?? undefined) !== undefined);
    if (!rule || !groups || !rule.kinds.includes(scope.kind)) {
      throw new OmaError('permission_denied', `${describe(scope)}; use an API key for ${c.req.method} ${path}`);
    }
    if (groups.environment !== undefined && groups.environment !== scope.environmentId) throw missing('environment', groups.environment);
    if (scope.kind === 'work') {
      // A stopped item's holder learns it from its heartbeat (200, state stopped) and its own stop; nothing else.
      if (scope.stopped && groups.work === undefined) throw new OmaError('unauthenticated', `work item ${scope.workId} was stopped: its sessions token no longer serves session ${scope.sessionId}`);
      if (groups.work !== undefined && groups.work !== scope.workId) throw missing('work item', groups.work);
      if (groups.session !== undefined && groups.session !== scope.sessionId) throw missing('session', groups.session);
    } else if (groups.session !== undefined && !(await hasLiveWork(db, scope.environmentId, groups.session))) {
      throw missing('session', groups.session);
    }
    return next();
  };
}

/**
 * Whether a worker's credential still serves `sessionId` (an open event stream re-checks it: a stream
 * must not outlive its sessions token's item, nor an environment key's revocation).
 */
export async function credentialStillServes(db: Queryable, key: string, sessionId: string): Promise<boolean> {
  const principal = await authenticateWorkerCredential(db, key);
  const scope = principal?.scope;
  if (!scope) return false;
  if (scope.kind === 'work') return !scope.stopped && scope.sessionId === sessionId;
  return hasLiveWork(db, scope.environmentId, sessionId);
}
