import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.ts';
import { jsonBody, type AppEnv } from '../api/http.ts';
import { keyset, pageRequest, toPage } from '../api/pagination.ts';
import { Query } from '../api/query.ts';
import type { Queryable } from '../db/interface.ts';
import { isOmaError, OmaError } from '../errors.ts';
import { getFileMetadata } from '../files/store.ts';
import { newId } from '../ids.ts';
import { renderResource, RESOURCE_COLUMNS, type ResourceRow } from './render.ts';
import { FileResourceParams, type ResourceParams } from './schema.ts';
import { getSessionRow, insertResource, isSelfHosted, type NewResource } from './store.ts';
import { assertWritable } from './events.ts';
import type { SecretBox } from '../vaults/crypto.ts';
import { sealRepositoryToken } from '../vaults/use.ts';

/** Files, repositories and memory stores mounted into a session (spec §6). */

/** Check a resource parameter and turn it into what is stored; a missing file is a 400 naming it. */
export async function buildResource(db: Queryable, workspaceId: string, params: ResourceParams, options: { selfHosted: boolean; path: string; secrets?: SecretBox }): Promise<NewResource> {
  if (options.selfHosted && params.type !== 'memory_store') {
    throw new OmaError('invalid_request', `${options.path}: sessions on self_hosted environments accept only memory_store resources`);
  }
  switch (params.type) {
    case 'file': {
      try {
        await getFileMetadata(db, workspaceId, params.file_id);
      } catch (error) {
        if (isOmaError(error, 'not_found')) throw new OmaError('invalid_request', `${options.path}.file_id: no file ${params.file_id}`);
        throw error;
      }
      return {
        id: newId('sesrsc'),
        type: 'file',
        body: { file_id: params.file_id, mount_path: params.mount_path ?? `/mnt/session/uploads/${params.file_id}` },
        secret: null,
      };
    }
    case 'github_repository': {
      const name = new URL(params.url).pathname.split('/').filter(Boolean).at(-1)?.replace(/\.git$/, '') || 'repository';
      const id = newId('sesrsc');
      return {
        id,
        type: 'github_repository',
        body: { url: params.url, mount_path: params.mount_path ?? `/workspace/${name}`, checkout: params.checkout ?? null },
        // Write-only: never rendered; sealed with the resource id as associated data (VAULT-5).
        secret: params.authorization_token === undefined ? null : sealRepositoryToken(options.secrets, id, params.authorization_token),
      };
    }
    case 'memory_store':
      return {
        id: newId('sesrsc'),
        type: 'memory_store',
        body: {
          memory_store_id: params.memory_store_id,
          access: params.access ?? 'read_write',
          instructions: params.instructions ?? null,
          name: null,
          description: '',
          mount_path: null,
        },
        secret: null,
      };
  }
}

async function getResourceRow(db: Queryable, sessionId: string, id: string): Promise<ResourceRow> {
  const { rows } = await db.query<ResourceRow>(`SELECT ${RESOURCE_COLUMNS} FROM session_resources WHERE session_id = $1 AND id = $2 AND type <> 'memory_store'`, [sessionId, id]);
  if (!rows[0]) throw new OmaError('not_found', `session ${sessionId} has no resource ${id}`);
  return rows[0];
}

export function resourceRoutes(deps: ApiDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const session = (c: Context<AppEnv>) => getSessionRow(deps.db, c.get('principal').workspaceId, c.req.param('session_id')!);

  routes.get('/', async (c) => {
    const row = await session(c);
    const request = pageRequest(new Query(c), { defaultLimit: 20, maxLimit: 1000, defaultOrder: 'asc' });
    const params: unknown[] = [row.id];
    const page = keyset('id', request, params);
    const { rows } = await deps.db.query<ResourceRow>(
      `SELECT ${RESOURCE_COLUMNS} FROM session_resources WHERE session_id = $1 AND ${page.where} ORDER BY ${page.orderBy} ${page.limit}`,
      params,
    );
    return c.json(toPage(rows, request, (resource) => resource.id, renderResource));
  });

  routes.post('/', async (c) => {
    const row = await session(c);
    assertWritable(row);
    const params = await jsonBody(c, FileResourceParams);
    const resource = await buildResource(deps.db, row.workspace_id, params, { selfHosted: await isSelfHosted(deps.db, row), path: 'body', secrets: deps.secrets });
    await insertResource(deps.db, row.id, row.workspace_id, resource);
    return c.json(renderResource(await getResourceRow(deps.db, row.id, resource.id)));
  });

  routes.get('/:resource_id', async (c) => {
    const row = await session(c);
    return c.json(renderResource(await getResourceRow(deps.db, row.id, c.req.param('resource_id'))));
  });

  routes.post('/:resource_id', async (c) => {
    const row = await session(c);
    assertWritable(row);
    const { authorization_token } = await jsonBody(c, z.strictObject({ authorization_token: z.string().min(1) }));
    const resource = await getResourceRow(deps.db, row.id, c.req.param('resource_id'));
    if (resource.type !== 'github_repository') throw new OmaError('invalid_request', 'only github_repository resources have an authorization_token to rotate');
    const sealed = sealRepositoryToken(deps.secrets, resource.id, authorization_token);
    await deps.db.query('UPDATE session_resources SET secret = $2, updated_at = now() WHERE id = $1', [resource.id, sealed]);
    return c.json(renderResource(await getResourceRow(deps.db, row.id, resource.id)));
  });

  routes.delete('/:resource_id', async (c) => {
    const row = await session(c);
    assertWritable(row);
    const resource = await getResourceRow(deps.db, row.id, c.req.param('resource_id'));
    await deps.db.query('DELETE FROM session_resources WHERE id = $1', [resource.id]);
    return c.json({ id: resource.id, type: 'session_resource_deleted' });
  });

  return routes;
}
