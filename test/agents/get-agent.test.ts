import assert from 'node:assert/strict';
import { it } from 'node:test';
import { getAgent } from '../../src/agents/store.ts';
import { isOmaError } from '../../src/errors.ts';
import { describeOnStorages, freshWorkspace } from './support.ts';

/** `getAgent`, the seam session create uses to resolve an agent (and its version) to pin. */

describeOnStorages('agents: getAgent', (oma) => {
  it('[AGT-27] returns the SDK object at a version, latest by default; not_found otherwise', async () => {
    const mine = await freshWorkspace(oma());
    const theirs = await freshWorkspace(oma());
    const v1 = await mine.client.beta.agents.create({ name: 'one', model: 'm', multiagent: { type: 'coordinator', agents: [{ type: 'self' }] } });
    const v2 = await mine.client.beta.agents.update(v1.id, { name: 'two' });
    const archived = await mine.client.beta.agents.archive(v1.id);

    assert.deepEqual(await getAgent(oma().db, mine.workspaceId, v1.id), { ...archived });
    assert.deepEqual(await getAgent(oma().db, mine.workspaceId, v1.id, 2), { ...archived });
    const first = await getAgent(oma().db, mine.workspaceId, v1.id, 1);
    assert.deepEqual(first, { ...v1, archived_at: archived.archived_at });
    assert.deepEqual(first.multiagent, { type: 'coordinator', agents: [{ type: 'agent', id: v1.id, version: 1 }] });
    assert.equal(v2.version, 2);

    for (const [workspaceId, id, version] of [
      [theirs.workspaceId, v1.id, undefined],
      [mine.workspaceId, 'agent_unknown', undefined],
      [mine.workspaceId, v1.id, 3],
    ] as const) {
      await assert.rejects(getAgent(oma().db, workspaceId, id, version), (error: unknown) => isOmaError(error, 'not_found'));
    }
  });
});
