/** Environments requirements (spec api-core.md §3.1–3.5). Tests cite the id in their name: `[ID] …`. ⚠ = a choice the spec leaves open. */
export const environmentsRequirements: Record<string, string> = {
  'ENV-1':
    'create with only a name → type environment, env_ id, the default cloud config (⚠ unrestricted networking, all package lists [] with type "packages"), description null, metadata {}, scope organization (⚠ always present), created_at = updated_at, archived_at null; every T|null field present',
  'ENV-2': 'each config variant round-trips: cloud unrestricted + packages, cloud limited (omitted flags false, omitted hosts []), self_hosted; config null = the default',
  'ENV-3': 'retrieve returns the environment exactly as create returned it',
  'ENV-4': 'update: omitted fields keep; name null keeps (⚠); description null clears, "" is stored as ""',
  'ENV-5':
    'update config: inside cloud omitted sub-fields (networking, each package manager, each limited-network field) keep their stored values, null resets to the default (⚠); the limited-networking/packages rule is checked on the merged config',
  'ENV-6': 'update with a different config.type → 400 invalid_config_type_change (SDK BetaInvalidConfigTypeChangeError); nothing written',
  'ENV-7': 'update of an archived environment → 400 environment_archived (SDK BetaEnvironmentArchivedError); nothing written',
  'ENV-8': 'metadata limits → 400 invalid_metadata; on update metadata is a patch where a string upserts and null or "" deletes',
  'ENV-9':
    'names are unique per workspace among non-archived environments (⚠): duplicate create or rename → 409 error_code environment_name_taken with x-should-retry: false (the SDK does not retry); archiving frees the name; another workspace may use it',
  'ENV-10':
    'list: PageCursor {data, next_page}, newest first (⚠), limit default 20 and max 1000 (⚠; 0 or 1001 → 400), next_page null on the last page; the SDK iterates all pages and a next_page passed back as page continues',
  'ENV-11': 'list hides archived environments unless include_archived=true',
  'ENV-12': 'archive sets archived_at (and updated_at), returns the environment, stays retrievable; archiving again returns it unchanged (⚠ idempotent)',
  'ENV-13': 'delete → 200 {id, type: "environment_deleted"}; afterwards retrieve/update/archive/delete → 404; archived environments can be deleted',
  'ENV-14': 'delete while a non-terminated session references the environment → 409 environment_in_use, not retried (⚠ spec recommendation); nothing deleted',
  'ENV-15': "another workspace's environment is a 404 environment_not_found on every route and absent from lists; nothing changes",
  'ENV-16':
    'invalid bodies → 400 invalid_request_error naming the field, nothing written: missing/empty/over-long name, unknown fields, unknown config/networking type, networking or packages on self_hosted, non-string or option-like package entries, URL-like allowed_hosts, limited networking with packages but allow_package_managers not true, scope "account" (⚠ API organizations have only "organization"), description over 2048 (⚠)',
  'ENV-17': 'an unknown id → 404 not_found_error with error_code environment_not_found (SDK BetaEnvironmentNotFoundError) on retrieve, update, archive, delete',
  'ENV-18': 'an update that changes something moves updated_at; one that changes nothing leaves the environment untouched (⚠)',
  'ENV-19': "getEnvironment(db, workspaceId, id) (for session create) returns the API's BetaEnvironment and throws not_found environment_not_found for another workspace's id",
};
