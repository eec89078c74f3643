import { z } from 'zod';
import { parseOrThrow } from './config';
import { ConfigurationError } from './errors';

/**
 * What the rollback router knows about the alarms that may start a rollback. The CDK builds it
 * from the stage configuration (thresholds, decision matrix) and hands it to the router's steps
 * as one JSON environment variable; the local world builds it from the same seed defaults.
 * Notify-only alarms are not in it: they notify through their own alarm action and are never
 * routed.
 */

/** What a rollback restores, in seed 004's terms. */
export const RollbackKind = z.enum(['config', 'code', 'data']);
export type RollbackKind = z.infer<typeof RollbackKind>;

/**
 * The rollback procedures that exist, what each restores and which changes it can undo.
 * `provider-rollback` restores the flags a change record holds (config) and the API task
 * definition it recorded (code). `code-rollback` and `config-rollback` undo a change anyone made,
 * chosen from the change journal; the matrix's kind names the first procedure that performs it. `database-rollback` switches `database/active` back to the
 * connection a database cutover recorded (data); it is deployed only with the stage's `database`
 * section, and without it the readiness check at synth refuses a rollback alarm whose decision is
 * `data`.
 */
export const ROLLBACK_PROCEDURES: Readonly<
  Record<string, { readonly kinds: readonly RollbackKind[]; readonly undoes: readonly string[] }>
> = {
  'provider-rollback': { kinds: ['config', 'code'], undoes: ['provider-cutover'] },
  'database-rollback': { kinds: ['data'], undoes: ['database-cutover'] },
  // Any change, whoever made it (functions/shared/culprit.ts): chosen from the change journal.
  'code-rollback': { kinds: ['code'], undoes: [] },
  'config-rollback': { kinds: ['config'], undoes: [] },
  // A completed feature rollout, from the journal: seed 003's emergency disable.
  'feature-disable': { kinds: [], undoes: ['feature-rollout'] },
};

/** The procedure that performs a kind of rollback, if any. */
export function rollbackProcedureFor(kind: RollbackKind): string | undefined {
  return Object.entries(ROLLBACK_PROCEDURES).find(([, p]) => p.kinds.includes(kind))?.[0];
}

/** Seed 004's time targets, in seconds: detect -> decide, decide -> execute, execute -> verify, total. */
export const RECOVERY_TARGETS = {
  detectToDecide: 5 * 60,
  decideToExecute: 2 * 60,
  executeToVerify: 5 * 60,
  total: 15 * 60,
} as const;

export const AlarmId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,60}$/, 'lowercase letters, digits and "-", 2-61 characters');

export const CatalogEntry = z.strictObject({
  title: z.string().min(1).max(120),
  seed: z.string().regex(/^\d{3}$/),
  service: z.enum(['api', 'sidecar']),
  issueType: z.string().min(1),
  severity: z.string().min(1),
  priority: z.string().min(1),
  rollback: RollbackKind,
});
export type CatalogEntry = z.infer<typeof CatalogEntry>;

export const AlarmCatalog = z.strictObject({
  environment: z.string().min(1),
  /** Alarm names are `<namePrefix><id>`. */
  namePrefix: z.string().min(1),
  /** Rollback alarms by id. */
  alarms: z.record(AlarmId, CatalogEntry),
  incident: z.strictObject({
    /** After an incident opens, further alarms within this time are recorded on it, never rolled back again. */
    cooldownMinutes: z.number().int().min(1).max(1440),
    /** Without a cutover in flight, only a change completed this recently is undone automatically. */
    maxChangeAgeHours: z.number().min(0.1).max(720),
    /** Wait after stopping a cutover, so a step invocation still running lands before the rollback reads. */
    settleSeconds: z.number().int().min(0).max(60),
    /**
     * An alarm whose state changed longer ago than this is not acted on: past seed 004's detection
     * budget, a rollback would undo what is there now on old evidence.
     * @default 15
     */
    maxAlarmAgeMinutes: z.number().int().min(1).max(1440).optional(),
  }),
  /** The account and region whose alarms this environment acts on; events from elsewhere are refused. */
  origin: z.strictObject({ account: z.string().min(1), region: z.string().min(1) }).optional(),
});

/** Default of `incident.maxAlarmAgeMinutes`. */
export const DEFAULT_MAX_ALARM_AGE_MINUTES = 15;
export type AlarmCatalog = z.infer<typeof AlarmCatalog>;

export const ALARM_CATALOG_ENV = 'SWITCHBACK_ALARMS';

/** Full name of an alarm, e.g. `switchback-prod-s004-error-rate`. */
export function alarmName(catalog: Pick<AlarmCatalog, 'namePrefix'>, id: string): string {
  return `${catalog.namePrefix}${id}`;
}

/** Reads the catalog a router step needs; throws ConfigurationError naming the bad field. */
export function loadAlarmCatalog(env: NodeJS.ProcessEnv = process.env): AlarmCatalog {
  const raw = env[ALARM_CATALOG_ENV];
  if (!raw) throw new ConfigurationError(`Environment variable ${ALARM_CATALOG_ENV} is not set`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ConfigurationError(`${ALARM_CATALOG_ENV} is not valid JSON`, { cause: err });
  }
  return parseOrThrow(AlarmCatalog, json, ConfigurationError, ALARM_CATALOG_ENV);
}

/** The catalog of a router step; a function wired without one is a configuration error. */
export function catalogOf(deps: { readonly alarms?: AlarmCatalog }): AlarmCatalog {
  if (!deps.alarms) throw new ConfigurationError(`This step needs the alarm catalog (${ALARM_CATALOG_ENV})`);
  return deps.alarms;
}
