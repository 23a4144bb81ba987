import type { BetaCloudConfig, BetaLimitedNetwork, BetaPackages, BetaSelfHostedConfig, BetaUnrestrictedNetwork } from '@anthropic-ai/sdk/resources/beta/environments/environments';
import { z } from 'zod';
import { OmaError } from '../errors.ts';

/**
 * An environment's `config` (spec §3.2, SDK `BetaCloudConfig | BetaSelfHostedConfig`): the request
 * schema, the defaults, and how an update's partial config merges into the stored one.
 *
 * Stored and returned configs are always complete (every key of the SDK response type present), so a
 * stored config is also the response. Request params follow the SDK's rule "fields default to null;
 * on update, omitted fields preserve the existing value": omitted keeps, `null` resets to the default
 * (⚠ the SDK says only "default to null"; resetting is what null means everywhere else here).
 */

export type Networking = BetaUnrestrictedNetwork | BetaLimitedNetwork;
export type EnvironmentConfig = BetaCloudConfig | BetaSelfHostedConfig;

/** The package managers, in the order they run (alphabetical, spec §3.2). */
export const PACKAGE_MANAGERS = ['apt', 'cargo', 'gem', 'go', 'npm', 'pip'] as const;
type PackageManager = (typeof PACKAGE_MANAGERS)[number];

/** ⚠ Limits the spec leaves open: generous, but bounded so one environment stays a small row. */
const LIMITS = { packagesPerManager: 256, packageLength: 256, allowedHosts: 256, hostLength: 253 };

/**
 * A package spec in the manager's own syntax (`pandas==2.2.0`, `curl`, `serde@1`). Refused: empty,
 * whitespace or control characters (one entry is one package), and a leading `-`, which every
 * manager would read as an option (`--index-url=…`) when the sandbox installs it.
 */
const PackageSpec = z
  .string()
  .min(1, 'a package must not be empty')
  .max(LIMITS.packageLength, `a package spec is at most ${LIMITS.packageLength} characters`)
  .refine((value) => !/[\s\p{Cc}]/u.test(value), 'a package spec must not contain whitespace or control characters')
  .refine((value) => !value.startsWith('-'), 'a package spec must not start with "-"');

/** A host name (optionally `*.`-wildcarded, optionally with a port), not a URL. */
const Host = z
  .string()
  .max(LIMITS.hostLength, `a host is at most ${LIMITS.hostLength} characters`)
  .regex(/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?(:\d{1,5})?$/, 'must be a host name such as api.example.com (not a URL)');

const PackageList = z.array(PackageSpec).max(LIMITS.packagesPerManager).nullable().optional();

const PackagesParam = z.strictObject({
  type: z.literal('packages').optional(),
  apt: PackageList,
  cargo: PackageList,
  gem: PackageList,
  go: PackageList,
  npm: PackageList,
  pip: PackageList,
});

const NetworkingParam = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('unrestricted') }),
    z.strictObject({
      type: z.literal('limited'),
      allowed_hosts: z.array(Host).max(LIMITS.allowedHosts).nullable().optional(),
      allow_package_managers: z.boolean().nullable().optional(),
      allow_mcp_servers: z.boolean().nullable().optional(),
    }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? 'networking.type must be "unrestricted" or "limited"' : undefined) },
);

/** `config` in create and update bodies (`BetaCloudConfigParams | BetaSelfHostedConfigParams | null`). */
export const ConfigParam = z
  .discriminatedUnion(
    'type',
    [
      z.strictObject({ type: z.literal('cloud'), networking: NetworkingParam.nullable().optional(), packages: PackagesParam.nullable().optional() }),
      z.strictObject({ type: z.literal('self_hosted') }),
    ],
    { error: (issue) => (issue.code === 'invalid_union' ? 'config.type must be "cloud" or "self_hosted"' : undefined) },
  )
  .nullable()
  .optional();

export type ConfigParams = z.infer<typeof ConfigParam>;
type CloudParams = Extract<NonNullable<ConfigParams>, { type: 'cloud' }>;

const UNRESTRICTED: BetaUnrestrictedNetwork = { type: 'unrestricted' };

function emptyPackages(): BetaPackages {
  return { type: 'packages', apt: [], cargo: [], gem: [], go: [], npm: [], pip: [] };
}

/** Spec §3.2 ⚠ default when `config` is omitted on create: cloud, unrestricted, no packages. */
export function defaultConfig(): BetaCloudConfig {
  return { type: 'cloud', networking: UNRESTRICTED, packages: emptyPackages() };
}

function resolveNetworking(stored: Networking | undefined, param: CloudParams['networking']): Networking {
  if (param === undefined) return stored ?? UNRESTRICTED;
  if (param === null || param.type === 'unrestricted') return UNRESTRICTED;
  // Limited sub-fields merge into a stored limited policy; coming from unrestricted they start at the defaults.
  const base: BetaLimitedNetwork =
    stored?.type === 'limited' ? stored : { type: 'limited', allowed_hosts: [], allow_package_managers: false, allow_mcp_servers: false };
  return {
    type: 'limited',
    allowed_hosts: param.allowed_hosts === undefined ? base.allowed_hosts : (param.allowed_hosts ?? []),
    allow_package_managers: param.allow_package_managers === undefined ? base.allow_package_managers : (param.allow_package_managers ?? false),
    allow_mcp_servers: param.allow_mcp_servers === undefined ? base.allow_mcp_servers : (param.allow_mcp_servers ?? false),
  };
}

function resolvePackages(stored: BetaPackages | undefined, param: CloudParams['packages']): BetaPackages {
  if (param === null) return emptyPackages();
  const packages = emptyPackages();
  for (const manager of PACKAGE_MANAGERS) {
    const given: string[] | null | undefined = param?.[manager];
    packages[manager] = given === undefined ? [...(stored?.[manager] ?? [])] : (given ?? []);
  }
  return packages;
}

/**
 * The complete config from a request's `config`: on create `stored` is undefined (omitted or null →
 * the default); on update, omitted or null `config` keeps `stored` (⚠ null on update = keep, as for
 * `name`), and inside a cloud config omitted sub-fields keep their stored values. The type of an
 * environment never changes: 400 `invalid_config_type_change`.
 */
export function resolveConfig(stored: EnvironmentConfig | undefined, param: ConfigParams): EnvironmentConfig {
  if (param === undefined || param === null) return stored ?? defaultConfig();
  if (stored !== undefined && stored.type !== param.type) {
    throw new OmaError('invalid_request', `config.type cannot change from ${JSON.stringify(stored.type)} to ${JSON.stringify(param.type)}`, {
      details: { error_code: 'invalid_config_type_change' },
    });
  }
  if (param.type === 'self_hosted') return { type: 'self_hosted' };
  const storedCloud = stored?.type === 'cloud' ? stored : undefined;
  const config: BetaCloudConfig = {
    type: 'cloud',
    networking: resolveNetworking(storedCloud?.networking, param.networking),
    packages: resolvePackages(storedCloud?.packages, param.packages),
  };
  checkCloudConfig(config);
  return config;
}

/** Rules across fields, checked on the merged result (so an update cannot reach a state a create could not). */
function checkCloudConfig(config: BetaCloudConfig) {
  const withPackages = PACKAGE_MANAGERS.filter((manager: PackageManager) => config.packages[manager].length > 0);
  if (config.networking.type === 'limited' && !config.networking.allow_package_managers && withPackages.length > 0) {
    throw new OmaError(
      'invalid_request',
      `config.packages (${withPackages.join(', ')}) need config.networking.allow_package_managers: true under limited networking`,
    );
  }
}
