/** HTTP foundation requirements (spec api-core.md §1; issue "Foundation"). Tests cite the id in their name: `[HTTP-1] …`. */
export const httpRequirements = {
  'HTTP-1': 'GET /healthz answers 200 when ready, without a key',
  'HTTP-2': 'every response carries a request-id header (req_…), repeated as request_id in error bodies',
  'HTTP-3': 'missing or invalid key → 401 authentication_error',
  'HTTP-4': 'Authorization: Bearer (SDK 1.x) and x-api-key (SDK 0.x) both authenticate; any anthropic-version is accepted',
  'HTTP-5': 'keys are per workspace, hashed, effective at once on creation and revocation',
  'HTTP-6': 'unknown route → 404 not_found_error in the Anthropic error shape',
  'HTTP-7': 'malformed JSON → 400 invalid_request_error saying so; nothing written',
  'HTTP-8': 'wrong types / unknown fields → 400 naming the field; nothing written',
  'HTTP-9': 'body over the limit → 413 request_too_large, also without content-length; nothing written',
  'HTTP-10': 'body-less POSTs are accepted',
  'HTTP-11': 'each error code maps to one status and Anthropic error type; the SDK raises the matching class',
  'HTTP-12': 'deterministic 409s carry x-should-retry: false so the SDK does not resend them',
  'HTTP-13': 'unexpected failures are 500 api_error without internal detail',
  'HTTP-14': "oma's admin routes need an admin key (403 permission_error otherwise)",
} as const;
