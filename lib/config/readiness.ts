import { isIP } from 'node:net';
import { functionPlaceholder, STEP_NAMES } from '../../functions/index';
import {
  type BudgetBounds,
  budgetBounds,
  budgetProblems,
  DESIGN_STAGE,
  ROLLOUT_LIMITS,
  type StageBounds,
} from '../../procedures/budget';
import { PROCEDURES as DEFINITIONS } from '../../procedures/index';
import { DATA_PROCEDURES } from '../data-protection';
import { DATABASE_PROCEDURES } from '../database-cutover';
import { PROCEDURES, STEP_SETTINGS } from '../switchback-stack';
import { resolveAlarms } from './alarm-readiness';
import { type StageConfig, StageConfigError } from './stage';

/**
 * The readiness check: what a stage's configuration would break only after `cdk deploy`, each
 * problem with the field to change. `cdk synth` refuses a stage with any (lib/app.ts), and
 * `switchback config check` reports them in seconds, without bundling.
 */
export interface ReadinessProblem {
  /** The field to change, as a path in the stage (`network`, `timing.stabilityMaxAttempts`). */
  readonly field: string;
  readonly message: string;
}

/** Steps that call the stage's endpoints (STEP_SETTINGS `inVpc`): they run in `network`. */
export const ENDPOINT_STEPS = STEP_NAMES.filter((s) => STEP_SETTINGS[s].inVpc);

const PRIVATE_SUFFIX = /\.(internal|local|localdomain|lan|intranet|corp|private|home\.arpa)$/i;

/** Whether a URL's host is reachable only from inside a network: private DNS names and addresses. */
export function isPrivateHost(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) === 4) {
    const [a, b] = host.split('.').map(Number) as [number, number];
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127)
    );
  }
  if (isIP(host) === 6) return /^(fc|fd|fe80|::1$)/i.test(host);
  return !host.includes('.') || PRIVATE_SUFFIX.test(host);
}

/** The procedures the stage's stack deploys, by name. */
export function deployedProcedures(stage: StageConfig): string[] {
  return [
    ...PROCEDURES,
    ...(stage.data ? DATA_PROCEDURES : []),
    ...(stage.database ? DATABASE_PROCEDURES : []),
  ];
}

/** Databases one change may back up: every configured one (a cutover) or the database cutover's list. */
function databasesBackedUp(stage: StageConfig): number {
  const data =
    (stage.data?.postgres?.databases.length ?? 0) + Object.keys(stage.data?.sqlite?.databases ?? {}).length;
  return Math.max(data, stage.database?.backups.length ?? 0);
}

/** The budget bounds this stage sets: its own settings, and each step's function timeout. */
export function stageBounds(stage: StageConfig): BudgetBounds {
  const bounds: StageBounds = {
    stabilityPollSeconds: stage.timing.stabilityPollSeconds,
    stabilityMaxAttempts: stage.timing.stabilityMaxAttempts,
    settleSeconds: stage.incidents.settleSeconds,
    monitoringWindowSeconds: stage.database?.monitoringWindowSeconds ?? 0,
    databases: databasesBackedUp(stage),
    steps: Object.fromEntries(
      STEP_NAMES.map((s) => [functionPlaceholder(s), STEP_SETTINGS[s].timeout.toSeconds()]),
    ),
  };
  return budgetBounds(bounds, ROLLOUT_LIMITS);
}

/** Every readiness problem of one (parsed) stage; empty when it is ready to deploy. */
export function readinessProblems(stage: StageConfig): ReadinessProblem[] {
  const problems: ReadinessProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });

  // Reachability: the functions that call the endpoints run in the stage's network.
  const privateEndpoints = (['apiBaseUrl', 'sidecarBaseUrl'] as const).filter((k) =>
    isPrivateHost(stage.endpoints[k]),
  );
  if (privateEndpoints.length && !stage.network) {
    add(
      'network',
      `${privateEndpoints.map((k) => `endpoints.${k} (${new URL(stage.endpoints[k]).host})`).join(' and ')} ${privateEndpoints.length > 1 ? 'are private addresses' : 'is a private address'}: the steps that call them (${ENDPOINT_STEPS.join(', ')}) would run outside any VPC and never reach them; set network (vpcId, availabilityZones, subnetIds, securityGroupIds)`,
    );
  }

  // Seed 000: always back up before a cutover.
  if (!stage.data && !stage.backups.none) {
    add(
      'data',
      'the stage deploys cutovers but configures no data section, so a cutover takes no backup (seed 000: always back up before a cutover); configure data, or set backups.none to the reason this stage needs none',
    );
  }
  if (stage.data && stage.backups.none) {
    add(
      'backups.none',
      'says the stage takes no backups, but it configures data (which backs up before every cutover); remove one',
    );
  }

  // Timeouts: each field beyond what the procedures' timeouts are sized for, then the nesting itself.
  const design = DESIGN_STAGE;
  const stability = stage.timing.stabilityPollSeconds * stage.timing.stabilityMaxAttempts;
  const designStability = design.stabilityPollSeconds * design.stabilityMaxAttempts;
  if (stability > designStability) {
    add(
      'timing.stabilityMaxAttempts',
      `timing.stabilityPollSeconds x timing.stabilityMaxAttempts = ${stability} s of stability wait, beyond the ${designStability} s the procedures' timeouts are derived for (procedures/budget.ts DESIGN_STAGE)`,
    );
  }
  const databases = databasesBackedUp(stage);
  if (databases > design.databases) {
    add(
      'data',
      `${databases} databases backed up per change, beyond the ${design.databases} the cutovers' timeouts are derived for (procedures/budget.ts DESIGN_STAGE)`,
    );
  }
  if (stage.database && stage.database.monitoringWindowSeconds > design.monitoringWindowSeconds) {
    add(
      'database.monitoringWindowSeconds',
      `${stage.database.monitoringWindowSeconds} s, beyond the ${design.monitoringWindowSeconds} s the database cutover's timeout is derived for (procedures/budget.ts DESIGN_STAGE)`,
    );
  }
  for (const message of budgetProblems(DEFINITIONS, stageBounds(stage), deployedProcedures(stage))) {
    add('timeouts', message);
  }

  // Alarms: each needs its metric source and a deployed rollback (lib/config/alarm-readiness.ts).
  try {
    resolveAlarms(stage, { deployedProcedures: deployedProcedures(stage) });
  } catch (err) {
    if (!(err instanceof StageConfigError)) throw err;
    add('alarms', err.message);
  }
  return problems;
}

/** Refuses the stages if any is not ready, listing every problem with its stage and field. */
export function assertReady(stages: readonly StageConfig[]): void {
  const lines = stages.flatMap((s) => readinessProblems(s).map((p) => `${s.name}: ${p.field}: ${p.message}`));
  if (lines.length) {
    throw new StageConfigError(`Switchback stages not ready to deploy:\n  ${lines.join('\n  ')}`);
  }
}
