import {
  type AlarmCatalog,
  alarmName,
  type RollbackKind,
  rollbackProcedureFor,
} from '../../functions/shared/alarm-catalog';
import { describeIssues } from '../../functions/shared/config';
import { AlarmSpec, type MatrixRow, SEED_ALARMS } from './alarm-schema';
import { type StageConfig, StageConfigError } from './stage';

/** One alarm as it will be deployed: its spec, its name and what the decision matrix says about it. */
export interface ResolvedAlarm {
  readonly id: string;
  readonly name: string;
  readonly spec: AlarmSpec;
  readonly decision: MatrixRow;
  /** The rollback procedure it starts, or null when it only notifies. */
  readonly procedure: string | null;
  /** Period x evaluation periods: how long a breach lasts before the alarm fires. */
  readonly windowSeconds: number;
}

export interface ReadinessContext {
  /** The procedures the stack deploys (a rollback alarm needs one that performs its rollback). */
  readonly deployedProcedures: readonly string[];
}

/** The alarm catalog travels as one Lambda environment variable (Lambda allows 4 KB for all of them). */
export const MAX_CATALOG_CHARS = 2500;

/** `switchback-<stage>-`: every alarm of the stage starts with it, so the rule and the router can tell them apart. */
export function alarmNamePrefix(stage: Pick<StageConfig, 'name'>): string {
  return `switchback-${stage.name}-`;
}

/** The app metrics' dimensions: configured, or `{ Environment: <stage name> }`. */
export function appDimensions(stage: StageConfig): Record<string, string> {
  return stage.monitoring.app.dimensions ?? { Environment: stage.name };
}

/**
 * Merges the stage's overrides onto the seed alarms and runs the readiness check. Every problem is
 * collected and reported at once, each naming its alarm: an override that does not parse; an
 * alarm without a decision matrix entry or without a missing-data policy; a rollback alarm with
 * actions disabled, with a window longer than the detection budget, or whose rollback no deployed
 * procedure performs; a rate without a minimum request count; a metric source the stage does not
 * configure. Throws StageConfigError, which fails `cdk synth`.
 */
export function resolveAlarms(stage: StageConfig, context: ReadinessContext): ResolvedAlarm[] {
  const problems: string[] = [];
  const specs: [string, AlarmSpec][] = [];
  const ids = [...new Set([...Object.keys(SEED_ALARMS), ...Object.keys(stage.alarms)])].sort();
  for (const id of ids) {
    const override = stage.alarms[id];
    if (override === null) continue;
    // A field set to null in the override removes the seed's value (then the schema or readiness names it).
    const merged: Record<string, unknown> = { ...(SEED_ALARMS[id] ?? {}), ...(override ?? {}) };
    for (const [k, v] of Object.entries(merged)) if (v === null) delete merged[k];
    const parsed = AlarmSpec.safeParse(merged);
    if (!parsed.success) {
      problems.push(`alarm ${id}: ${describeIssues(parsed.error).replace(/(^|; )/g, `$1alarms.${id}.`)}`);
      continue;
    }
    specs.push([id, parsed.data]);
  }

  const matrix = new Map(stage.decisionMatrix.map((r) => [`${r.issueType}/${r.severity}`, r]));
  const budget = stage.incidents.detectionBudgetSeconds;
  const resolved: ResolvedAlarm[] = [];
  for (const [id, spec] of specs) {
    const name = alarmName({ namePrefix: alarmNamePrefix(stage) }, id);
    const problem = (message: string) => problems.push(`alarm ${id} (${name}): ${message}`);
    const windowSeconds = spec.periodSeconds * spec.evaluationPeriods;
    const decision = matrix.get(`${spec.issueType}/${spec.severity}`);

    if (!spec.treatMissingData)
      problem('states no missing-data policy (treatMissingData: breaching, notBreaching, ignore or missing)');
    if (spec.datapointsToAlarm > spec.evaluationPeriods)
      problem(
        `datapointsToAlarm ${spec.datapointsToAlarm} exceeds evaluationPeriods ${spec.evaluationPeriods}`,
      );
    if (spec.periodSeconds < 60 && spec.source !== 'probe')
      problem(
        `a ${spec.periodSeconds} s period needs high-resolution metrics; only the probe publishes them`,
      );
    if (spec.source === 'alb' && !stage.monitoring.alb)
      problem('reads ALB target metrics but monitoring.alb (loadBalancer, targetGroup) is not configured');
    if ((spec.signal === 'rate' || spec.signal === 'hit-ratio') && spec.minRequests === undefined)
      problem('is a rate without a minimum request count (minRequests)');
    if (spec.signal === 'rate' && spec.source === 'app' && (!spec.numerator || !spec.denominator))
      problem('reads app metrics but names no numerator and denominator metric');
    if ((spec.signal === 'latency' || spec.signal === 'degradation') && spec.source === 'app' && !spec.metric)
      problem('reads an app metric but names none (metric)');
    if (!decision) {
      problem(`has no decision matrix entry for ${spec.issueType}/${spec.severity}`);
      continue;
    }

    let procedure: string | null = null;
    if (decision.rollback !== 'none') {
      procedure = rollbackProcedureFor(decision.rollback as RollbackKind) ?? null;
      if (!spec.actionsEnabled)
        problem('starts a rollback but has its actions disabled (actionsEnabled: false)');
      if (windowSeconds > budget) {
        problem(
          `starts a rollback but its window (${spec.periodSeconds} s x ${spec.evaluationPeriods} = ${windowSeconds} s) is longer than the detection budget (${budget} s)`,
        );
      }
      if (!procedure) {
        problem(`starts a ${decision.rollback} rollback, which no rollback procedure performs`);
      } else if (!context.deployedProcedures.includes(procedure)) {
        problem(`starts ${procedure}, which this stack does not deploy`);
      }
    }
    resolved.push({ id, name, spec, decision, procedure, windowSeconds });
  }

  if (problems.length) {
    throw new StageConfigError(
      `Switchback stage "${stage.name}" is not ready for alarm-started rollbacks:\n  - ${problems.join('\n  - ')}`,
    );
  }
  const catalogSize = JSON.stringify(alarmCatalog(stage, resolved)).length;
  if (catalogSize > MAX_CATALOG_CHARS) {
    throw new StageConfigError(
      `Switchback stage "${stage.name}": ${resolved.filter((a) => a.procedure).length} rollback alarms make an alarm catalog of ${catalogSize} characters, more than ${MAX_CATALOG_CHARS} (it is one Lambda environment variable); shorten titles or make some notify only`,
    );
  }
  return resolved;
}

/** What the router's steps know: the rollback alarms and how incidents are handled. */
export function alarmCatalog(stage: StageConfig, alarms: readonly ResolvedAlarm[]): AlarmCatalog {
  return {
    environment: stage.name,
    namePrefix: alarmNamePrefix(stage),
    alarms: Object.fromEntries(
      alarms
        .filter((a) => a.procedure !== null && a.decision.rollback !== 'none')
        .map((a) => [
          a.id,
          {
            title: a.spec.title,
            seed: a.spec.seed,
            service: a.spec.service,
            issueType: a.decision.issueType,
            severity: a.decision.severity,
            priority: a.decision.priority,
            rollback: a.decision.rollback as RollbackKind,
          },
        ]),
    ),
    incident: {
      cooldownMinutes: stage.incidents.cooldownMinutes,
      maxChangeAgeHours: stage.incidents.maxChangeAgeHours,
      settleSeconds: stage.incidents.settleSeconds,
      maxAlarmAgeMinutes: stage.incidents.maxAlarmAgeMinutes,
    },
  };
}
