import type { BetaManagedAgentsMultiagent } from '@anthropic-ai/sdk/resources/beta/sessions/sessions';
import { OmaError } from '../errors.ts';
import type { StoredDelegation, StoredMultiagent, StoredReference } from './config.ts';
import type { DelegationParam, MultiagentParam, PredefinedEntryParam, RosterEntryParam } from './schema.ts';

/**
 * `multiagent` (spec §2.8): oma accepts, stores and returns both forms, resolved. Every agent
 * reference is resolved to a concrete version when the agent version is written; a reference must
 * name an agent of the same workspace that exists (at that version), is not archived and has no
 * `multiagent` of its own (depth limit 1, applied to both forms ⚠). A reference to the agent
 * itself (`{type:"self"}`, or its own id without a version) is stored as `self` and always renders
 * as the version being read.
 */

/** What resolving a reference needs to know about the referenced agent version. */
export interface ReferencedAgent {
  version: number;
  archived: boolean;
  hasMultiagent: boolean;
}

/** Looks up agent `id` of the caller's workspace at `version` (latest when omitted). */
export type AgentLookup = (id: string, version: number | undefined) => Promise<ReferencedAgent | undefined>;

function invalid(message: string): never {
  throw new OmaError('invalid_request', message);
}

async function resolveReference(
  entry: Exclude<RosterEntryParam | PredefinedEntryParam, { type: 'advisor' }>,
  path: string,
  selfId: string | undefined,
  lookup: AgentLookup,
): Promise<StoredReference> {
  if (entry.type === 'self' || (entry.id === selfId && entry.version === undefined)) return { type: 'self' };
  const found = await lookup(entry.id, entry.version);
  if (!found) invalid(`${path}: there is no agent ${entry.id}${entry.version === undefined ? '' : ` with version ${entry.version}`}`);
  if (found.archived) invalid(`${path}: agent ${entry.id} is archived`);
  if (found.hasMultiagent) invalid(`${path}: agent ${entry.id} has a multiagent configuration itself; only single-agent agents can be referenced`);
  return { type: 'agent', id: entry.id, version: found.version };
}

/** References in a list must name different agents (self counts as the agent's own id). */
function checkDistinct(references: Array<StoredReference | { type: 'advisor' }>, path: string): void {
  const seen = new Set<string>();
  for (const [index, reference] of references.entries()) {
    const key = reference.type === 'self' ? 'self' : reference.type === 'advisor' ? 'advisor' : reference.id;
    if (seen.has(key)) {
      invalid(`${path}.${index}: ${reference.type === 'agent' ? `agent ${reference.id}` : reference.type} is listed more than once`);
    }
    seen.add(key);
  }
}

async function resolveList(entries: PredefinedEntryParam[], path: string, selfId: string | undefined, lookup: AgentLookup): Promise<StoredReference[]> {
  const references: StoredReference[] = [];
  for (const [index, entry] of entries.entries()) references.push(await resolveReference(entry, `${path}.${index}`, selfId, lookup));
  checkDistinct(references, path);
  return references;
}

const DEFAULT_DELEGATION: Extract<StoredDelegation, { type: 'enabled' }> = { type: 'enabled', inline_agents: { type: 'enabled' }, predefined_agents: [] };

/**
 * One member of `multiagent_20261001` (SDK doc): omitted keeps the stored value, null takes the
 * default; an object of the stored type is merged key by key, one of another type replaces it
 * (its omitted keys take defaults). A sent `predefined_agents` list replaces the stored list.
 */
async function mergeDelegation(
  stored: StoredDelegation | undefined,
  param: DelegationParam | null | undefined,
  path: string,
  selfId: string | undefined,
  lookup: AgentLookup,
): Promise<StoredDelegation> {
  if (param === undefined) return stored ?? DEFAULT_DELEGATION;
  if (param === null) return DEFAULT_DELEGATION;
  if (param.type === 'disabled') return { type: 'disabled' };
  const base: Extract<StoredDelegation, { type: 'enabled' }> = stored?.type === 'enabled' ? stored : DEFAULT_DELEGATION;
  const merged: StoredDelegation = {
    type: 'enabled',
    inline_agents: param.inline_agents === undefined ? base.inline_agents : { type: param.inline_agents?.type ?? 'enabled' },
    predefined_agents:
      param.predefined_agents === undefined ? base.predefined_agents : await resolveList(param.predefined_agents ?? [], `${path}.predefined_agents`, selfId, lookup),
  };
  if (merged.inline_agents.type === 'disabled' && merged.predefined_agents.length === 0) {
    invalid(`${path}: predefined_agents must name at least one agent when inline_agents is disabled`);
  }
  return merged;
}

/**
 * The stored `multiagent` after a create (`stored` undefined) or an update. `param` undefined
 * keeps `stored`; null clears it; a coordinator replaces it whole; `multiagent_20261001` merges
 * into a stored object of the same type. `selfId` is undefined on create (the id is not yet known
 * to the caller, so only `{type:"self"}` can name the agent itself).
 */
export async function resolveMultiagent(
  param: MultiagentParam | null | undefined,
  stored: StoredMultiagent | null,
  selfId: string | undefined,
  lookup: AgentLookup,
): Promise<StoredMultiagent | null> {
  if (param === undefined) return stored;
  if (param === null) return null;
  if (param.type === 'coordinator') {
    const agents: Array<StoredReference | { type: 'advisor'; model: string }> = [];
    for (const [index, entry] of param.agents.entries()) {
      agents.push(entry.type === 'advisor' ? { type: 'advisor', model: entry.model } : await resolveReference(entry, `multiagent.agents.${index}`, selfId, lookup));
    }
    checkDistinct(agents, 'multiagent.agents');
    return { type: 'coordinator', agents };
  }
  const base = stored?.type === 'multiagent_20261001' ? stored : undefined;
  return {
    type: 'multiagent_20261001',
    advisor: param.advisor === undefined ? (base?.advisor ?? { type: 'disabled' }) : param.advisor === null ? { type: 'disabled' } : param.advisor,
    subagents: await mergeDelegation(base?.subagents, param.subagents, 'multiagent.subagents', selfId, lookup),
    workflows: await mergeDelegation(base?.workflows, param.workflows, 'multiagent.workflows', selfId, lookup),
  };
}

/** The wire form: `self` becomes a reference to agent `id` at `version` (the version being read). */
export function renderMultiagent(stored: StoredMultiagent | null, id: string, version: number): BetaManagedAgentsMultiagent | null {
  if (stored === null) return null;
  const reference = <T extends { type: string }>(entry: T) => (entry.type === 'self' ? { type: 'agent' as const, id, version } : entry);
  const delegation = (member: StoredDelegation) =>
    member.type === 'enabled'
      ? { type: 'enabled' as const, inline_agents: member.inline_agents, predefined_agents: member.predefined_agents.map(reference) as Array<{ type: 'agent'; id: string; version: number }> }
      : member;
  if (stored.type === 'coordinator') {
    return { type: 'coordinator', agents: stored.agents.map(reference) as Extract<BetaManagedAgentsMultiagent, { type: 'coordinator' }>['agents'] };
  }
  return { type: 'multiagent_20261001', advisor: stored.advisor, subagents: delegation(stored.subagents), workflows: delegation(stored.workflows) };
}
