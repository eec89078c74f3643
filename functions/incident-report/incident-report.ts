import { z } from 'zod';
import { RECOVERY_TARGETS } from '../shared/alarm-catalog';
import { DRILL_REASON } from '../shared/drill-config';
import { metricsOf } from '../shared/metrics';
import type { MetricDatum } from '../shared/ports';
import { SUBJECT_MAX } from '../shared/sns';
import { defineStep } from '../shared/step';
import { renderMarkdown } from './render';

const Failure = z.looseObject({ Error: z.string().nullish(), Cause: z.string().nullish() });
const Instant = z.union([z.number(), z.string()]).nullish();

const Input = z.strictObject({
  incidentId: z.string().min(1),
  executionId: z.string().min(1),
  routerStartedAt: z.string().min(1),
  route: z.looseObject({
    alarm: z.looseObject({
      id: z.string(),
      name: z.string(),
      title: z.string(),
      seed: z.string(),
      service: z.string(),
      state: z.string(),
      previousState: z.string(),
      reason: z.string(),
      reasonData: z.string().nullable(),
      stateChangedAt: z.string(),
    }),
    decision: z.looseObject({
      issueType: z.string(),
      severity: z.string(),
      priority: z.string(),
      rollback: z.string(),
      procedure: z.string(),
    }),
    incident: z.looseObject({ cooldownMinutes: z.number().int().positive() }),
  }),
  plan: z.looseObject({
    action: z.enum(['stop-in-flight', 'undo-last', 'hold']),
    why: z.string(),
    procedure: z.string(),
    changeId: z.string().nullable(),
    inFlight: z.looseObject({ owner: z.string(), procedure: z.string(), status: z.string() }).nullable(),
    /** Every journal entry the router considered (functions/shared/culprit.ts), when it read the journal. */
    considered: z
      .array(
        z.looseObject({
          entryId: z.string(),
          at: z.string(),
          subject: z.string(),
          actor: z.string().nullable(),
          what: z.string(),
          rolledBack: z.boolean(),
          why: z.string(),
        }),
      )
      .optional(),
  }),
  response: z.looseObject({
    stop: z.looseObject({ StopDate: Instant }).nullable(),
    stopError: Failure.nullable(),
    confirm: z.looseObject({ recorded: z.boolean(), status: z.string().nullable() }).nullable(),
    confirmError: Failure.nullable(),
    rollback: z
      .looseObject({
        executionArn: z.string(),
        status: z.string(),
        startDate: Instant,
        stopDate: Instant,
        output: z.unknown(),
      })
      .nullable(),
    rollbackFailure: Failure.nullable(),
    lockRelease: z.looseObject({}).nullable(),
    lockReleaseError: Failure.nullable(),
  }),
});
type Input = z.infer<typeof Input>;

export type IncidentOutcome =
  | 'rolled-back'
  | 'rollback-failed'
  | 'rollback-refused'
  | 'stopped-before-change'
  | 'nothing-to-roll-back'
  | 'held';

interface Phase {
  readonly seconds: number | null;
  readonly targetSeconds: number;
  readonly withinTarget: boolean | null;
}

/** The incident report: seed 001's template (trigger, impact, detection, actions, validation) as data. */
export interface IncidentReport {
  readonly schemaVersion: 1;
  readonly incidentId: string;
  readonly environment: string;
  readonly outcome: IncidentOutcome;
  readonly rollbackType: string;
  readonly trigger: {
    readonly alarm: string;
    readonly alarmId: string;
    readonly title: string;
    readonly seed: string;
    readonly transition: string;
    readonly reason: string;
    readonly datapoints: unknown;
  };
  readonly impact: {
    readonly service: string;
    readonly issueType: string;
    readonly severity: string;
    readonly priority: string;
  };
  readonly detection: {
    readonly how: string;
    readonly alarmStateChangedAt: string;
    readonly routerStartedAt: string;
  };
  readonly decision: {
    readonly rollback: string;
    /** The rollback that ran (the journal's culprit decides it; the matrix names one when there is no journal). */
    readonly procedure: string;
    /** The procedure the decision matrix names for the alarm's kind. */
    readonly matrixProcedure: string;
    readonly action: string;
    readonly why: string;
    readonly changeId: string | null;
    readonly inFlight: string | null;
  };
  readonly timeline: {
    readonly alarmStateChangedAt: string;
    readonly routerStartedAt: string;
    readonly rollbackStartedAt: string | null;
    readonly verifiedAt: string | null;
    readonly reportedAt: string;
  };
  readonly phases: {
    readonly detectToDecide: Phase;
    readonly decideToExecute: Phase;
    readonly executeToVerify: Phase;
    readonly total: Phase;
  };
  readonly actions: readonly { readonly at: string | null; readonly what: string }[];
  /** Each journal entry considered, and why it was or was not rolled back. */
  readonly considered: readonly {
    readonly entryId: string;
    readonly at: string;
    readonly subject: string;
    readonly actor: string | null;
    readonly what: string;
    readonly rolledBack: boolean;
    readonly why: string;
  }[];
  readonly validation: {
    readonly serviceStatus: string;
    readonly performanceMetrics: string;
    readonly dataIntegrity: string;
  };
  readonly lock: 'released' | 'kept' | 'not taken';
  readonly rollbackExecution: string | null;
  readonly rootCause: string;
  readonly prevention: string;
}

/** Key prefix of incident reports in the backup bucket. */
export function incidentPrefix(environment: string): string {
  return `incidents/${environment}`;
}

/**
 * Writes the incident report of one router execution, as JSON and Markdown, to
 * `incidents/<env>/<incidentId>.{json,md}` in the backup bucket; publishes the recovery-time
 * phases as CloudWatch metrics; returns the outcome and the notice the router sends. Writing the
 * same incident again overwrites it with the same content (idempotent).
 */
export const incidentReport = defineStep({
  name: 'incident-report',
  input: Input,
  async run(input, deps) {
    const { config, clock, blobs, log } = deps;
    const env = config.environment;
    const reportedAt = clock.now();
    const report = buildReport(input, env, reportedAt);

    const base = `${incidentPrefix(env)}/${safeId(input.incidentId)}`;
    const reportKey = `${base}.json`;
    const markdownKey = `${base}.md`;
    await blobs.put(reportKey, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
    await blobs.put(markdownKey, renderMarkdown(report), 'text/markdown; charset=utf-8');
    const uri = `s3://${config.changeRecords.bucket}/${reportKey}`;
    log.info('incident report written', { incidentId: input.incidentId, outcome: report.outcome, reportKey });

    let metricsPublished = true;
    try {
      await metricsOf(deps).put(phaseMetrics(report, reportedAt));
    } catch (err) {
      // The report is what the operator reads; a metrics outage must not lose it.
      metricsPublished = false;
      log.error('recovery-time metrics not published', { errorName: (err as Error).name });
    }

    const notice = {
      outcome: report.outcome,
      environment: env,
      incidentId: input.incidentId,
      // SNS takes subjects of fewer than 100 characters.
      subject: subjectOf(report).slice(0, SUBJECT_MAX),
      summary: summaryOf(report, input),
      alarm: report.trigger.alarm,
      decision: `${report.impact.issueType}/${report.impact.severity} -> ${report.decision.rollback} rollback (${report.impact.priority})`,
      changeId: report.decision.changeId,
      rollbackExecution: report.rollbackExecution,
      lock: report.lock,
      report: {
        json: uri,
        markdown: `s3://${config.changeRecords.bucket}/${markdownKey}`,
        // The S3 console finds the bucket's region itself.
        console: `https://console.aws.amazon.com/s3/object/${config.changeRecords.bucket}?prefix=${encodeURIComponent(markdownKey)}`,
      },
      phases: Object.fromEntries(Object.entries(report.phases).map(([k, p]) => [k, p.seconds])),
      metricsPublished,
    };
    return {
      outcome: report.outcome,
      reportKey,
      markdownKey,
      uri,
      // A drill's incident absorbs no later alarm: it expires as it closes, so a real alarm right
      // after a drill is handled, never deduplicated into the drill.
      incidentExpiresAt: String(
        Math.floor(reportedAt.getTime() / 1000) +
          (DRILL_REASON.test(input.route.alarm.reason) ? -1 : input.route.incident.cooldownMinutes * 60),
      ),
      notice,
    };
  },
});

function buildReport(input: Input, environment: string, reportedAt: Date): IncidentReport {
  const { alarm, decision } = input.route;
  const { plan, response } = input;
  const failure = childFailure(response.rollbackFailure);
  const outcome = outcomeOf(input, failure?.error ?? null);

  const alarmAt = iso(alarm.stateChangedAt);
  const routerAt = iso(input.routerStartedAt);
  const rollbackAt = iso(response.rollback?.startDate ?? failure?.startDate ?? null);
  const verifiedAt = outcome === 'rolled-back' ? iso(response.rollback?.stopDate ?? null) : null;
  const phase = (from: string | null, to: string | null, target: number): Phase => {
    const seconds = from && to ? round((Date.parse(to) - Date.parse(from)) / 1000) : null;
    return { seconds, targetSeconds: target, withinTarget: seconds === null ? null : seconds <= target };
  };

  const lock: IncidentReport['lock'] =
    plan.action === 'hold' ? 'not taken' : response.lockRelease ? 'released' : 'kept';
  const rollbackExecution = response.rollback?.executionArn ?? failure?.executionArn ?? null;
  const actions: { at: string | null; what: string }[] = [
    {
      at: alarmAt,
      what: `${alarm.name} went ${alarm.previousState} -> ${alarm.state}: ${alarm.reason}`,
    },
    {
      at: routerAt,
      what: `Rollback router ${input.executionId} started; incident ${input.incidentId} opened`,
    },
    {
      at: null,
      what: `Decision matrix: ${decision.issueType}/${decision.severity} -> ${decision.rollback} rollback (${decision.priority}) by ${decision.procedure}`,
    },
    { at: null, what: plan.why },
  ];
  if (plan.action === 'stop-in-flight' && plan.inFlight) {
    actions.push({
      at: null,
      what: `Lock taken over from ${plan.inFlight.owner} (${plan.inFlight.procedure})`,
    });
    actions.push(
      response.stop
        ? { at: iso(response.stop.StopDate ?? null), what: `Stopped ${plan.inFlight.owner}` }
        : {
            at: null,
            what: `Stopping ${plan.inFlight.owner} failed (${response.stopError?.Error ?? 'unknown error'}); rolled back regardless`,
          },
    );
    if (response.confirm) {
      actions.push({
        at: null,
        what: response.confirm.recorded
          ? `Change record ${plan.changeId} found (status ${response.confirm.status})`
          : `No change record ${plan.changeId}: the cutover was stopped before it changed anything`,
      });
    }
  }
  if (rollbackExecution) {
    actions.push({
      at: rollbackAt,
      what: `${plan.procedure} ${rollbackExecution} started for change ${plan.changeId}`,
    });
    actions.push(
      outcome === 'rolled-back'
        ? { at: verifiedAt, what: `${plan.procedure} verified the rollback` }
        : {
            at: iso(failure?.stopDate ?? null),
            what: `${plan.procedure} ended ${failure?.error ?? 'unsuccessfully'}: ${failure?.cause ?? ''}`.trim(),
          },
    );
  }
  if (lock !== 'not taken') {
    actions.push({
      at: null,
      what:
        lock === 'released' ? 'Environment lock released' : 'Environment lock kept (held for an operator)',
    });
  }
  actions.push({ at: reportedAt.toISOString(), what: 'Incident report written' });

  return {
    schemaVersion: 1,
    incidentId: input.incidentId,
    environment,
    outcome,
    rollbackType: `automatic ${decision.rollback} rollback (${plan.action === 'hold' ? decision.procedure : plan.procedure})`,
    trigger: {
      alarm: alarm.name,
      alarmId: alarm.id,
      title: alarm.title,
      seed: alarm.seed,
      transition: `${alarm.previousState} -> ${alarm.state}`,
      reason: alarm.reason,
      datapoints: parseJson(alarm.reasonData),
    },
    impact: {
      service: alarm.service,
      issueType: decision.issueType,
      severity: decision.severity,
      priority: decision.priority,
    },
    detection: {
      how: `CloudWatch alarm ${alarm.name} (seed ${alarm.seed}: ${alarm.title}) -> EventBridge -> rollback router`,
      alarmStateChangedAt: alarmAt ?? alarm.stateChangedAt,
      routerStartedAt: routerAt ?? input.routerStartedAt,
    },
    decision: {
      rollback: decision.rollback,
      procedure: plan.action === 'hold' ? decision.procedure : plan.procedure,
      matrixProcedure: decision.procedure,
      action: plan.action,
      why: plan.why,
      changeId: plan.changeId,
      inFlight: plan.inFlight ? `${plan.inFlight.procedure} ${plan.inFlight.owner}` : null,
    },
    timeline: {
      alarmStateChangedAt: alarmAt ?? alarm.stateChangedAt,
      routerStartedAt: routerAt ?? input.routerStartedAt,
      rollbackStartedAt: rollbackAt,
      verifiedAt,
      reportedAt: reportedAt.toISOString(),
    },
    phases: {
      detectToDecide: phase(alarmAt, routerAt, RECOVERY_TARGETS.detectToDecide),
      decideToExecute: phase(routerAt, rollbackAt, RECOVERY_TARGETS.decideToExecute),
      executeToVerify: phase(rollbackAt, verifiedAt, RECOVERY_TARGETS.executeToVerify),
      total: phase(alarmAt, verifiedAt, RECOVERY_TARGETS.total),
    },
    actions,
    considered: plan.considered ?? [],
    validation: validationOf(outcome, response.rollback?.output, failure, plan.procedure),
    lock,
    rollbackExecution,
    rootCause: 'To be completed in the post-mortem.',
    prevention: 'To be completed in the post-mortem.',
  };
}

function outcomeOf(input: Input, childError: string | null): IncidentOutcome {
  const { plan, response } = input;
  if (plan.action === 'hold') return 'held';
  if (response.rollback?.status === 'SUCCEEDED') {
    // A code or config rollback that found every target on its last known good changed nothing.
    const output = response.rollback.output as { outcome?: string } | null | undefined;
    return output?.outcome === 'nothing-to-roll-back' ? 'nothing-to-roll-back' : 'rolled-back';
  }
  if (response.confirm && !response.confirm.recorded && !response.rollback && !response.rollbackFailure)
    return 'stopped-before-change';
  if (childError === 'RollbackRefusedError') return 'rollback-refused';
  return 'rollback-failed';
}

/**
 * The child rollback's failure. Step Functions reports a failed `startExecution.sync:2` child as
 * `States.TaskFailed` whose Cause is the child's DescribeExecution output as JSON.
 */
function childFailure(failure: z.infer<typeof Failure> | null) {
  if (!failure) return undefined;
  const cause = parseJson(failure.Cause ?? null) as Record<string, unknown> | null;
  if (!cause || typeof cause !== 'object') {
    return {
      error: failure.Error ?? null,
      cause: failure.Cause ?? null,
      executionArn: null,
      startDate: null,
      stopDate: null,
    };
  }
  const pick = (...keys: string[]) => keys.map((k) => cause[k]).find((v) => v !== undefined && v !== null);
  return {
    error: (pick('Error', 'error') as string | undefined) ?? failure.Error ?? null,
    cause: (pick('Cause', 'cause') as string | undefined) ?? null,
    executionArn: (pick('ExecutionArn', 'executionArn') as string | undefined) ?? null,
    startDate: (pick('StartDate', 'startDate') as number | string | undefined) ?? null,
    stopDate: (pick('StopDate', 'stopDate') as number | string | undefined) ?? null,
  };
}

function validationOf(
  outcome: IncidentOutcome,
  output: unknown,
  failure: ReturnType<typeof childFailure>,
  procedure: string,
): IncidentReport['validation'] {
  if (outcome === 'rolled-back' && procedure === 'database-rollback') {
    const o = (output ?? {}) as { restoredTo?: string; changeId?: string };
    return {
      serviceStatus: `database-rollback switched database/active back to "${o.restoredTo ?? 'unknown'}" (change ${o.changeId ?? 'unknown'}) and verified the API on it and a vector search on the old store.`,
      performanceMetrics:
        'Not re-measured by the router: the alarm returns to OK on its own evaluation once the metric is back within its threshold.',
      dataIntegrity:
        'The new database was left intact for investigation; the old store was verified answering vector searches.',
    };
  }
  if (outcome === 'rolled-back' && (procedure === 'code-rollback' || procedure === 'config-rollback')) {
    const o = (output ?? {}) as { changes?: string[] };
    return {
      serviceStatus: `${procedure} put back the last known good (${(o.changes ?? []).join('; ') || 'see the rollback execution'}) and verified the API and the sidecar healthy and a marker memory written and recalled through the API.`,
      performanceMetrics:
        'Not re-measured by the router: the alarm returns to OK on its own evaluation once the metric is back within its threshold.',
      dataIntegrity: `A ${procedure === 'code-rollback' ? 'code' : 'config'} rollback changes no stored memories; the verification memory was recalled intact.`,
    };
  }
  if (outcome === 'rolled-back') {
    const o = (output ?? {}) as {
      provider?: string;
      changeId?: string;
      flags?: { name: string; value: string }[];
    };
    const flags = (o.flags ?? []).map((f) => `${f.name}=${f.value}`).join(', ');
    return {
      serviceStatus: `${procedure} verified the API: it reports memory provider "${o.provider ?? 'unknown'}" and a marker memory was written and recalled through it.${flags ? ` Flags restored: ${flags}.` : ''}`,
      performanceMetrics:
        'Not re-measured by the router: the alarm returns to OK on its own evaluation once the metric is back within its threshold.',
      dataIntegrity:
        'A provider rollback changes no stored memories; the verification memory was recalled intact.',
    };
  }
  if (outcome === 'nothing-to-roll-back') {
    const o = (output ?? {}) as { changes?: string[] };
    return {
      serviceStatus: `${procedure} changed nothing: ${(o.changes ?? []).join('; ') || 'every target on its last known good'}.`,
      performanceMetrics: 'Not measured: nothing was rolled back.',
      dataIntegrity: 'Nothing was changed.',
    };
  }
  if (outcome === 'rollback-failed' || outcome === 'rollback-refused') {
    const started = Boolean(failure?.executionArn);
    const what = `${failure?.error ?? 'unknown error'}: ${failure?.cause ?? ''}`.trim();
    return {
      serviceStatus: started
        ? `${procedure} did not verify: ${what}`
        : `${procedure} could not be started: ${what}`,
      performanceMetrics: 'Not measured: the rollback did not complete.',
      dataIntegrity:
        outcome === 'rollback-refused'
          ? 'Nothing was changed by the refused rollback.'
          : started
            ? 'Unknown: see the rollback execution; it leaves maintenance mode on when it cannot verify.'
            : 'Nothing was changed: the rollback never started.',
    };
  }
  return {
    serviceStatus: 'No rollback ran.',
    performanceMetrics: 'Not measured.',
    dataIntegrity: 'Nothing was changed by the router.',
  };
}

function phaseMetrics(report: IncidentReport, at: Date): MetricDatum[] {
  const dimensions = { Environment: report.environment };
  const names: Record<keyof IncidentReport['phases'], string> = {
    detectToDecide: 'AlarmToRouterSeconds',
    decideToExecute: 'RouterToRollbackSeconds',
    executeToVerify: 'RollbackToVerifiedSeconds',
    total: 'AlarmToVerifiedSeconds',
  };
  const data: MetricDatum[] = [];
  for (const [phase, name] of Object.entries(names) as [keyof IncidentReport['phases'], string][]) {
    const seconds = report.phases[phase].seconds;
    if (seconds !== null)
      data.push({ name, value: seconds, unit: 'Seconds', dimensions, timestamp: at, storageResolution: 60 });
  }
  data.push({
    name: 'Incidents',
    value: 1,
    unit: 'Count',
    dimensions: { ...dimensions, Outcome: report.outcome },
    timestamp: at,
    storageResolution: 60,
  });
  return data;
}

function subjectOf(r: IncidentReport): string {
  const id = r.trigger.alarmId;
  switch (r.outcome) {
    case 'rolled-back':
      return `Switchback ${r.environment}: alarm rollback verified (${id})`;
    case 'rollback-failed':
      return `Switchback ${r.environment}: ACTION NEEDED - alarm rollback failed (${id})`;
    case 'rollback-refused':
      return `Switchback ${r.environment}: ACTION NEEDED - alarm rollback refused (${id})`;
    case 'stopped-before-change':
      return `Switchback ${r.environment}: cutover stopped by alarm, nothing to undo (${id})`;
    case 'nothing-to-roll-back':
      return `Switchback ${r.environment}: ACTION NEEDED - alarm ${id}, nothing to roll back`;
    case 'held':
      return `Switchback ${r.environment}: ACTION NEEDED - alarm ${id}, no automatic rollback`;
  }
}

function summaryOf(r: IncidentReport, input: Input): string {
  const t = r.phases.total.seconds;
  const head = `${r.trigger.alarm} (${r.trigger.title}) went to ALARM in ${r.environment}.`;
  switch (r.outcome) {
    case 'rolled-back':
      return `${head} ${r.decision.procedure} rolled back ${culpritOf(r) ?? `change ${r.decision.changeId}`} and verified it${t === null ? '' : ` ${t} s after the alarm`}. Report: ${incidentPrefix(r.environment)}/${safeId(input.incidentId)}.md`;
    case 'rollback-failed':
      return `${head} The automatic rollback of change ${r.decision.changeId} FAILED: ${r.validation.serviceStatus} ${
        r.lock === 'kept'
          ? 'The environment lock is kept for an operator.'
          : 'The environment lock was released.'
      }`;
    case 'rollback-refused':
      return `${head} The automatic rollback of change ${r.decision.changeId} was REFUSED and changed nothing: ${r.validation.serviceStatus}`;
    case 'stopped-before-change':
      return `${head} The cutover in flight was stopped before it changed anything; there was nothing to roll back.`;
    case 'nothing-to-roll-back':
      return `${head} ${r.decision.procedure} found every target already on its last known good and changed nothing: the alarm's cause is not a change it can undo. ${r.validation.serviceStatus}`;
    case 'held':
      return `${head} No automatic rollback: ${r.decision.why}.`;
  }
}

function iso(value: number | string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const ms = typeof value === 'number' ? value : Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function parseJson(text: string | null): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Execution names may hold characters an object key should not. */
function safeId(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '-');
}

/** The change the journal named as the culprit, as `what (by whom)`, if the router read the journal. */
function culpritOf(r: IncidentReport): string | undefined {
  const c = r.considered.find((x) => x.rolledBack);
  return c ? `${c.what}${c.actor ? ` (by ${c.actor})` : ''}` : undefined;
}
