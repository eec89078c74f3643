import { z } from 'zod';
import {
  catalogOf,
  DEFAULT_MAX_ALARM_AGE_MINUTES,
  ROLLBACK_PROCEDURES,
  rollbackProcedureFor,
} from '../shared/alarm-catalog';
import type { RuntimeConfig } from '../shared/config';
import { parseOrThrow } from '../shared/config';
import { ConfigurationError, InvalidInputError } from '../shared/errors';
import { parseFlagValue } from '../shared/flags';
import { defineStep } from '../shared/step';

const SOURCE = 'aws.cloudwatch';
const DETAIL_TYPE = 'CloudWatch Alarm State Change';

/** CloudWatch writes `2019-10-02T17:04:40.985+0000`; anything Date.parse reads is accepted and normalised. */
const Timestamp = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'a timestamp')
  .transform((s) => new Date(Date.parse(s)).toISOString());

const AlarmState = z.looseObject({
  value: z.enum(['OK', 'ALARM', 'INSUFFICIENT_DATA']),
  reason: z.string().max(2048),
  reasonData: z.string().max(16_384).optional(),
  timestamp: Timestamp,
});

/** `CloudWatch Alarm State Change` as AWS documents it (EventBridge envelope, `detail` of a metric alarm). */
export const AlarmStateChangeEvent = z.looseObject({
  version: z.string(),
  id: z.string().min(1),
  'detail-type': z.literal(DETAIL_TYPE),
  source: z.literal(SOURCE),
  account: z.string().regex(/^\d{12}$/),
  time: Timestamp,
  region: z.string().min(1),
  resources: z.array(z.string()),
  detail: z.looseObject({
    alarmName: z.string().min(1).max(255),
    state: AlarmState,
    previousState: AlarmState,
    configuration: z
      .looseObject({ description: z.string().optional(), metrics: z.array(z.unknown()).optional() })
      .optional(),
  }),
});

const Input = z.strictObject({
  /** The execution input as EventBridge delivered it (`$$.Execution.Input`). */
  event: z.unknown(),
  /** The router execution's name: the incident id. */
  executionName: z.string().min(1),
});

export interface RoutedAlarm {
  readonly id: string;
  readonly name: string;
  readonly title: string;
  readonly seed: string;
  readonly service: 'api' | 'sidecar';
  readonly state: string;
  readonly previousState: string;
  readonly reason: string;
  /** The triggering datapoints as CloudWatch reported them (`state.reasonData`), or null. */
  readonly reasonData: string | null;
  readonly stateChangedAt: string;
  readonly arn: string | null;
}

export interface Decision {
  readonly issueType: string;
  readonly severity: string;
  readonly priority: string;
  readonly rollback: string;
  /** The rollback procedure that performs it. */
  readonly procedure: string;
  /** Procedures whose changes that rollback can undo (and whose in-flight executions it may stop). */
  readonly undoes: readonly string[];
}

export interface Route {
  readonly disposition: 'ignore' | 'paused' | 'route';
  /** The stage's stability timing, for a hold the router may have to make (routed alarms only). */
  readonly timing?: RuntimeConfig['timing'];
  readonly why: string;
  readonly alarm: RoutedAlarm | null;
  readonly decision: Decision | null;
  readonly incident: {
    readonly id: string;
    /** Key of the incident item in the lock table. */
    readonly key: string;
    /** Epoch seconds, as strings for DynamoDB `N` values. */
    readonly now: string;
    readonly expiresAt: string;
    readonly cooldownMinutes: number;
    readonly settleSeconds: number;
    readonly maxChangeAgeHours: number;
  } | null;
}

/**
 * First state of the rollback router: validates the event, then decides whether to act on it.
 * Events that are not a CloudWatch alarm state change, or that do not parse, are refused with
 * InvalidInputError. A state other than ALARM, or an alarm that is not one of this environment's
 * rollback alarms, is ignored with a log line. With `automation/paused` set, the alarm is only
 * notified. Otherwise it is routed, with the decision from the matrix.
 */
export const routeAlarm = defineStep({
  name: 'route-alarm',
  input: Input,
  async run(input, deps): Promise<Route> {
    const catalog = catalogOf(deps);
    const envelope = z
      .looseObject({ source: z.unknown(), 'detail-type': z.unknown() })
      .safeParse(input.event);
    if (
      !envelope.success ||
      envelope.data.source !== SOURCE ||
      envelope.data['detail-type'] !== DETAIL_TYPE
    ) {
      const seen = envelope.success
        ? `source ${JSON.stringify(envelope.data.source)}, detail-type ${JSON.stringify(envelope.data['detail-type'])}`
        : 'not an event object';
      throw new InvalidInputError(
        `Refused: not a "${DETAIL_TYPE}" event from ${SOURCE} (${seen}). Nothing was changed.`,
      );
    }
    const event = parseOrThrow(
      AlarmStateChangeEvent,
      input.event,
      InvalidInputError,
      'alarm state change event',
    );
    const { detail } = event;
    if (
      catalog.origin &&
      (event.account !== catalog.origin.account || event.region !== catalog.origin.region)
    ) {
      throw new InvalidInputError(
        `Refused: the event comes from account ${event.account} in ${event.region}; environment ${catalog.environment} acts only on alarms of account ${catalog.origin.account} in ${catalog.origin.region}. Nothing was changed.`,
      );
    }
    const maxAgeMinutes = catalog.incident.maxAlarmAgeMinutes ?? DEFAULT_MAX_ALARM_AGE_MINUTES;
    const ageMinutes = (deps.clock.now().getTime() - Date.parse(detail.state.timestamp)) / 60_000;
    if (ageMinutes > maxAgeMinutes) {
      throw new InvalidInputError(
        `Refused: ${detail.alarmName} changed to ${detail.state.value} at ${detail.state.timestamp}, ${Math.round(ageMinutes)} minutes ago, past the ${maxAgeMinutes}-minute detection budget; a rollback on evidence that old could undo a later change. Nothing was changed.`,
      );
    }
    const ignore = (why: string, alarm: RoutedAlarm | null = null): Route => {
      deps.log.info('alarm event ignored', { alarmName: detail.alarmName, state: detail.state.value, why });
      return { disposition: 'ignore', why, alarm, decision: null, incident: null };
    };

    const id = detail.alarmName.startsWith(catalog.namePrefix)
      ? detail.alarmName.slice(catalog.namePrefix.length)
      : undefined;
    // Own keys only: an alarm named `<prefix>constructor` is not in the catalog.
    const entry = id !== undefined && Object.hasOwn(catalog.alarms, id) ? catalog.alarms[id] : undefined;
    if (id === undefined || !entry) {
      return ignore(
        `${detail.alarmName} is not a rollback alarm of environment ${catalog.environment}; nothing to do`,
      );
    }
    const alarm: RoutedAlarm = {
      id,
      name: detail.alarmName,
      title: entry.title,
      seed: entry.seed,
      service: entry.service,
      state: detail.state.value,
      previousState: detail.previousState.value,
      reason: detail.state.reason,
      reasonData: detail.state.reasonData ?? null,
      stateChangedAt: detail.state.timestamp,
      arn: event.resources[0] ?? null,
    };
    if (detail.state.value !== 'ALARM') {
      return ignore(
        `${detail.alarmName} changed to ${detail.state.value}; only ALARM starts a rollback`,
        alarm,
      );
    }

    const procedure = rollbackProcedureFor(entry.rollback);
    if (!procedure) {
      // The readiness check at synth refuses this; a hand-made catalog could still hold it.
      throw new ConfigurationError(
        `No rollback procedure performs a ${entry.rollback} rollback (alarm ${id})`,
      );
    }
    const decision: Decision = {
      issueType: entry.issueType,
      severity: entry.severity,
      priority: entry.priority,
      rollback: entry.rollback,
      procedure,
      undoes: ROLLBACK_PROCEDURES[procedure]?.undoes ?? [],
    };

    // The kill switch is read fresh on every alarm; a value that does not parse is an error, never "false".
    const paused = parseFlagValue('automation/paused', (await deps.flags.get('automation/paused')).value);
    if (paused === 'true') {
      deps.log.warn('automation paused: alarm notified only', { alarmName: alarm.name });
      return {
        disposition: 'paused',
        why: `automation/paused is "true": ${alarm.name} is notified only, nothing is rolled back`,
        alarm,
        decision,
        incident: null,
      };
    }

    const now = Math.floor(deps.clock.now().getTime() / 1000);
    return {
      disposition: 'route',
      timing: deps.config.timing,
      why: `${alarm.name} (${entry.issueType}/${entry.severity}, ${entry.priority}): ${entry.rollback} rollback by ${procedure}`,
      alarm,
      decision,
      incident: {
        id: input.executionName,
        key: `${catalog.environment}#incident`,
        now: String(now),
        expiresAt: String(now + catalog.incident.cooldownMinutes * 60),
        cooldownMinutes: catalog.incident.cooldownMinutes,
        settleSeconds: catalog.incident.settleSeconds,
        maxChangeAgeHours: catalog.incident.maxChangeAgeHours,
      },
    };
  },
});
