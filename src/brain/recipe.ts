import type { Logger } from 'pino';
import type { Db } from '../db/interface.ts';
import { readFileContent } from '../files/store.ts';
import type { EnvironmentPackages, SandboxFile, SandboxNotice, SandboxRecipe, SandboxRepository } from '../sandbox/interface.ts';
import { REGISTRY_HOSTS } from '../sandbox/packages.ts';
import type { NewEvent, SessionLog } from '../session/interface.ts';
import type { SecretBox } from '../vaults/crypto.ts';
import { openRepositoryToken } from '../vaults/use.ts';
import { SPAN } from './history.ts';
import type { SessionFacts } from './run.ts';

/**
 * What a session's sandbox is built from, read when a brain takes the session: its files, its
 * environment's packages and network, its repositories (whose tokens are read at each git operation,
 * never copied into the sandbox), and where what happens on its ways out is recorded.
 */

export interface RecipeDeps {
  db: Db;
  /** What `unrestricted` networking opens (BrainOptions.unrestrictedNetworking). */
  unrestricted: 'none' | 'public';
  log: SessionLog;
  secrets?: SecretBox;
  logger?: Logger;
}

/** Refused connections recorded per sandbox, at most (a loop retrying one host must not flood the log). */
const MAX_REFUSALS_LOGGED = 50;

/** An environment's config as stored (loaded with the session: `SessionFacts.environment`). */
export interface EnvironmentConfig {
  type: 'cloud' | 'self_hosted';
  packages?: EnvironmentPackages;
  networking?: { type: 'unrestricted' } | { type: 'limited'; allowed_hosts: string[]; allow_package_managers: boolean; allow_mcp_servers: boolean };
}

export async function sandboxRecipe(deps: RecipeDeps, session: SessionFacts): Promise<SandboxRecipe> {
  const config = session.environment;
  const { files, repositories } = await sessionResources(deps, session);
  let refusals = 0;
  return {
    sessionId: session.id,
    workspaceId: session.workspaceId,
    environmentId: session.environmentId,
    files,
    packages: config?.packages,
    egress: egress(config, session, deps.unrestricted),
    repositories,
    onNotice: (notice) => {
      if (notice.type === 'egress_refused' && ++refusals > MAX_REFUSALS_LOGGED) return;
      deps.log.append(session.id, [noticeEvent(notice)]).catch((error) => deps.logger?.warn({ err: error, sessionId: session.id }, 'a sandbox notice could not be recorded'));
    },
  };
}

/** The sandbox's egress, if it has any: a sandbox whose environment allows no host has no network at all. */
function egress(config: EnvironmentConfig | undefined, session: SessionFacts, unrestricted: 'none' | 'public'): SandboxRecipe['egress'] {
  const hosts = config ? allowedHosts(config, session, unrestricted) : [];
  return hosts.length > 0 ? { allowedHosts: hosts } : undefined;
}

/**
 * The egress allowlist from the environment's networking: `unrestricted` is any public host when
 * the operator opened it (`OMA_UNRESTRICTED_NETWORKING=public`), else nothing; `limited` is its
 * allowed_hosts, plus the package registries and the agent's MCP servers when it says so.
 */
export function allowedHosts(config: EnvironmentConfig, session: Pick<SessionFacts, 'agent'>, unrestricted: 'none' | 'public'): string[] {
  const networking = config.networking ?? { type: 'unrestricted' };
  if (networking.type === 'unrestricted') return unrestricted === 'public' ? ['*'] : [];
  const hosts = [...networking.allowed_hosts];
  if (networking.allow_package_managers) hosts.push(...Object.values(REGISTRY_HOSTS).flat());
  if (networking.allow_mcp_servers) {
    // The server's own port only: a bare host would open all its ports (and a private host's services).
    for (const server of (session.agent.mcp_servers ?? []) as { url: string }[]) {
      if (!URL.canParse(server.url)) continue;
      const url = new URL(server.url);
      hosts.push(`${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`);
    }
  }
  return [...new Set(hosts)];
}

function noticeEvent(notice: SandboxNotice): NewEvent {
  switch (notice.type) {
    case 'git': {
      const { operation } = notice;
      return {
        type: SPAN,
        payload: {
          name: `git.${operation.operation}`,
          resource_id: operation.resourceId,
          repository: operation.repository,
          allowed: operation.allowed,
          status: operation.status,
          duration_ms: operation.durationMs,
          bytes_up: operation.bytesUp,
          bytes_down: operation.bytesDown,
          ...(operation.reason ? { reason: operation.reason } : {}),
        },
      };
    }
    case 'egress_refused':
      return { type: SPAN, payload: { name: 'egress.refused', method: notice.decision.method, host: notice.decision.host, port: notice.decision.port, reason: notice.decision.reason ?? null } };
    case 'repository_error':
      return {
        type: 'session.error',
        payload: { error: { type: notice.errorType, message: notice.message, repository_url: notice.url, retry_status: { type: 'retrying' } } },
      };
  }
}

type FileBody = { file_id: string; mount_path: string };
type RepositoryBody = { url: string; mount_path: string; checkout: SandboxRepository['checkout'] };

/** The session's file and repository resources, for the sandbox (files read only if one is provisioned; tokens at each git operation). */
async function sessionResources(deps: RecipeDeps, session: SessionFacts): Promise<{ files: SandboxFile[]; repositories: SandboxRepository[] }> {
  const { rows } = await deps.db.query<{ id: string; type: string; body: FileBody | RepositoryBody }>(
    "SELECT id, type, body FROM session_resources WHERE session_id = $1 AND type IN ('file', 'github_repository') ORDER BY id",
    [session.id],
  );
  return {
    files: rows.filter((row) => row.type === 'file').map((row) => sessionFile(deps, session, row.body as FileBody)),
    repositories: rows.filter((row) => row.type === 'github_repository').map((row) => sessionRepository(deps, row.id, row.body as RepositoryBody)),
  };
}

function sessionFile(deps: RecipeDeps, session: SessionFacts, body: FileBody): SandboxFile {
  return {
    mountPath: body.mount_path,
    async content() {
      try {
        return (await readFileContent(deps.db, session.workspaceId, body.file_id)).bytes;
      } catch (error) {
        // Deleted or expired since it was attached: the sandbox starts without it, the log says why.
        deps.logger?.warn({ err: error, sessionId: session.id, fileId: body.file_id }, 'a file resource could not be read');
        return Buffer.from(`[file ${body.file_id} is no longer available]\n`);
      }
    },
  };
}

function sessionRepository(deps: RecipeDeps, id: string, body: RepositoryBody): SandboxRepository {
  const { db, secrets } = deps;
  return {
    resourceId: id,
    url: body.url,
    mountPath: body.mount_path,
    checkout: body.checkout ?? null,
    async token() {
      const { rows: current } = await db.query<{ secret: string | null }>('SELECT secret FROM session_resources WHERE id = $1', [id]);
      if (!current[0]) return undefined; // detached since the sandbox started: no longer the session's
      const sealed = current[0].secret;
      if (!sealed || !secrets) return null;
      return openRepositoryToken(secrets, id, sealed);
    },
  };
}
