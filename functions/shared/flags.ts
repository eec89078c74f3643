import { z } from 'zod';
import { InvalidFlagValueError, UnknownFlagError } from './errors';
import { MEMORY_CONTEXT_OFF, MemoryContextFlagValue, serializeMemoryContextFlag } from './memory-context';

/**
 * The flags Switchback manages, by name relative to the environment's parameter prefix
 * (`/switchback/<env>/`). Each has a schema: a value that does not parse is refused, never
 * read as a default. The CDK flags construct creates exactly these parameters.
 */
export const FLAG_SCHEMAS = {
  'memory/provider': z.enum(['native', 'http']),
  'memory/http-base': z.url({ protocol: /^https?$/ }),
  'maintenance-mode': z.enum(['on', 'off']),
  'automation/paused': z.enum(['true', 'false']),
  /** Seed 003's Memory & Context feature: a JSON document (see `./memory-context`). */
  'features/memory-context': MemoryContextFlagValue,
  /**
   * Seed 002: which database connection the backend uses, by name (a connection of the stage's
   * `database.connections`, whose secret holds the URL). Never the URL itself.
   */
  'database/active': z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'a connection name: a-z, 0-9 and "-"'),
} as const;

export type FlagName = keyof typeof FLAG_SCHEMAS;

/**
 * The value each flag starts with in a new environment, on AWS (the flags construct) and in a
 * rehearsal alike: the native provider, maintenance off, automation running, the feature off, and
 * the database the stage names as its source (seed 002's connection in use before any cutover).
 */
export function initialFlagValues(o: {
  readonly sidecarBaseUrl: string;
  readonly databaseConnection?: string;
}): Record<FlagName, string> {
  return {
    'memory/provider': 'native',
    'memory/http-base': o.sidecarBaseUrl,
    'maintenance-mode': 'off',
    'automation/paused': 'false',
    'features/memory-context': serializeMemoryContextFlag(MEMORY_CONTEXT_OFF),
    'database/active': o.databaseConnection ?? 'legacy',
  };
}
export const FLAG_NAMES = Object.keys(FLAG_SCHEMAS) as FlagName[];

export const FlagNameSchema = z.enum(FLAG_NAMES as [FlagName, ...FlagName[]]);

export function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(FLAG_SCHEMAS, name);
}

export function assertFlagName(name: string): FlagName {
  if (!isFlagName(name))
    throw new UnknownFlagError(`Unknown flag "${name}"; known flags: ${FLAG_NAMES.join(', ')}`);
  return name;
}

/** Parses a flag value, throwing InvalidFlagValueError with the flag's name and the reason. */
export function parseFlagValue(name: FlagName, value: string): string {
  const parsed = FLAG_SCHEMAS[name].safeParse(value);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => i.message).join('; ');
    throw new InvalidFlagValueError(`Flag "${name}" has an invalid value: ${reason}`);
  }
  return parsed.data;
}

/** Full SSM parameter name of a flag, e.g. `/switchback/prod/memory/provider`. */
export function flagParameterName(prefix: string, name: FlagName): string {
  return `${prefix.replace(/\/+$/, '')}/${name}`;
}
