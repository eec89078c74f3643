import { z } from 'zod';
import { RECOVERY_TARGETS } from '../shared/alarm-catalog';
import { DRILL_REASON_PREFIX } from '../shared/drill-config';
import { ConfigurationError, DrillRefusedError } from '../shared/errors';
import { parseFlagValue } from '../shared/flags';
import { type Deps, defineStep } from '../shared/step';

const Marker = z.strictObject({ key: z.string().min(1), name: z.string().startsWith('/') });
const Common = { drillId: z.string().min(1), marker: Marker };

const Preflight = z.strictObject({ action: z.literal('preflight'), ...Common });
const Change = z.strictObject({ action: z.literal('change'), ...Common });
const Raise = z.strictObject({ action: z.literal('raise'), ...Common, alarmName: z.string().min(1) });
const Observe = z.strictObject({
  action: z.literal('observe'),
  ...Common,
  changedVersion: z.number().int().min(1),
  changedAt: z.iso.datetime(),
  attempt: z.number().int().min(0),
  polls: z.number().int().min(1),
});
const Reset = z.strictObject({ action: z.literal('reset'), ...Common, alarmName: z.string().min(1) });
const Undo = z.strictObject({ action: z.literal('undo'), ...Common });
const Report = z.strictObject({
  action: z.literal('report'),
  ...Common,
  kind: z.string().min(1),
  alarmName: z.string().min(1),
  startedAt: z.iso.datetime(),
  changedAt: z.iso.datetime(),
  raisedAt: z.iso.datetime(),
  rolledBackAt: z.iso.datetime(),
  /** The alarms recorded on the drill's incident (its DynamoDB list), read after the drill. */
  incidentAlarms: z.array(z.looseObject({ M: z.looseObject({ name: z.looseObject({ S: z.string() }) }) })),
});

/** A drill report (`drills/<env>/<drill>.json`), as `switchback drills` reads it back. */
export const DrillReport = z.looseObject({
  schemaVersion: z.literal(1),
  drillId: z.string().min(1),
  environment: z.string().min(1),
  kind: z.string().min(1),
  drill: z.literal(true),
  alarm: z.string(),
  timeline: z.looseObject({ startedAt: z.iso.datetime(), rolledBackAt: z.iso.datetime() }),
  phases: z.strictObject({ changeToAlarm: z.number(), alarmToRolledBack: z.number(), total: z.number() }),
  target: z.strictObject({ alarmToVerifiedSeconds: z.number(), withinTarget: z.boolean() }),
});
export type DrillReport = z.infer<typeof DrillReport>;

/** Where an environment's drill reports are. */
export const drillReportPrefix = (environment: string) => `drills/${environment}/`;

/** The drill's own change: the marker `true` while the drill runs; `false` is its known good value. */
const ON = 'true';
const OFF = 'false';

/**
 * The steps of a rollback drill (config kind): check it is safe to drill, make the drill's own
 * change (the drill marker), put the rollback alarm into ALARM with a reason that names the drill
 * (the same EventBridge rule then starts the router), watch for the rollback, set the alarm back
 * to OK, undo the change if the rollback never came, and report the phases against seed 004's
 * targets.
 */
export const drill = defineStep({
  name: 'drill',
  input: z.discriminatedUnion('action', [Preflight, Change, Raise, Observe, Reset, Undo, Report]),
  async run(input, deps) {
    switch (input.action) {
      case 'preflight':
        return preflight(input, deps);
      case 'change': {
        const { version } = await watched(deps).put(input.marker.name, ON);
        return { version, at: deps.clock.now().toISOString() };
      }
      case 'raise':
        await control(deps).setState(
          input.alarmName,
          'ALARM',
          `${DRILL_REASON_PREFIX} ${input.drillId}: a rollback drill; its only change is ${input.marker.name}=${ON}, which the router must roll back`,
        );
        return { at: deps.clock.now().toISOString() };
      case 'observe': {
        const now = await watched(deps).get(input.marker.name);
        const attempt = input.attempt + 1;
        // Rolled back *and verified*: the marker back, and the rollback's own journal entry, which
        // config-rollback writes only once it verified.
        const done =
          now?.value === OFF && now.version > input.changedVersion && (await verifiedRollback(deps, input));
        return {
          attempt,
          done,
          exhausted: !done && attempt >= input.polls,
          value: now?.value ?? null,
          version: now?.version ?? null,
          at: deps.clock.now().toISOString(),
        };
      }
      case 'reset':
        await control(deps).setState(input.alarmName, 'OK', `${DRILL_REASON_PREFIX} ${input.drillId} ended`);
        return { at: deps.clock.now().toISOString() };
      case 'undo': {
        const now = await watched(deps).get(input.marker.name);
        if (now?.value !== ON)
          return { undone: false, why: `the marker is ${now?.value ?? 'absent'} already` };
        const { version } = await watched(deps).put(input.marker.name, OFF);
        return { undone: true, version };
      }
      case 'report':
        return report(input, deps);
    }
  },
});

/** Whether a config-rollback that put the marker back was journaled (it journals after verifying). */
async function verifiedRollback(deps: Deps, input: z.infer<typeof Observe>): Promise<boolean> {
  if (!deps.journal) throw new ConfigurationError('The drill needs the change journal');
  const entries = await deps.journal.list(deps.config.environment, { since: new Date(input.changedAt) });
  return entries.some(
    (e) =>
      e.change.type === 'procedure' &&
      e.change.procedure === 'config-rollback' &&
      e.change.status === 'completed' &&
      e.change.flags.some((f) => f.name === input.marker.key && f.to === OFF),
  );
}

function watched(deps: Deps) {
  if (!deps.watched) throw new ConfigurationError('The drill needs the watched parameter store');
  return deps.watched;
}

function control(deps: Deps) {
  if (!deps.alarmControl) throw new ConfigurationError('The drill needs to set alarm states (SetAlarmState)');
  return deps.alarmControl;
}

/** Safe to drill: the kill switch off, the marker at rest, no rollback alarm in ALARM now. */
async function preflight(input: z.infer<typeof Preflight>, deps: Deps) {
  const paused = parseFlagValue('automation/paused', (await deps.flags.get('automation/paused')).value);
  if (paused === 'true') {
    throw new DrillRefusedError(
      'automation/paused is "true": no drill while automation is paused. Nothing was changed.',
    );
  }
  const marker = await watched(deps).get(input.marker.name);
  if (marker?.value !== OFF) {
    throw new DrillRefusedError(
      `The drill marker ${input.marker.name} is ${marker ? `"${marker.value}"` : 'absent'}, not "${OFF}": another drill may be running, or one did not end. Nothing was changed.`,
    );
  }
  if (!deps.alarmHistory) throw new ConfigurationError('The drill needs the rollback alarms history');
  const now = deps.clock.now();
  const history = await deps.alarmHistory.history({ since: new Date(now.getTime() - 3_600_000), until: now });
  const open = history.intervals.filter((i) => i.to === null).map((i) => i.alarm);
  if (open.length) {
    throw new DrillRefusedError(
      `A rollback alarm is in ALARM (${[...new Set(open)].join(', ')}): a real incident comes first, no drill now. Nothing was changed.`,
    );
  }
  return { safe: true, markerVersion: marker.version };
}

async function report(input: z.infer<typeof Report>, deps: Deps) {
  const seconds = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 10) / 100;
  const phases = {
    changeToAlarm: seconds(input.changedAt, input.raisedAt),
    alarmToRolledBack: seconds(input.raisedAt, input.rolledBackAt),
    total: seconds(input.startedAt, input.rolledBackAt),
  };
  // Seed 004: alarm -> verified within the total target (15 min); the drill's alarm is its detection.
  const withinTarget = phases.alarmToRolledBack <= RECOVERY_TARGETS.total;
  const report = {
    schemaVersion: 1,
    drillId: input.drillId,
    environment: deps.config.environment,
    kind: input.kind,
    drill: true,
    alarm: input.alarmName,
    change: `${input.marker.name}=${ON}`,
    timeline: {
      startedAt: input.startedAt,
      changedAt: input.changedAt,
      alarmAt: input.raisedAt,
      rolledBackAt: input.rolledBackAt,
    },
    phases,
    target: { alarmToVerifiedSeconds: RECOVERY_TARGETS.total, withinTarget },
  };
  const prefix = `${drillReportPrefix(deps.config.environment)}${input.drillId}`;
  const markdown = [
    `# Rollback drill ${input.drillId} (${input.kind})`,
    '',
    `- Environment: ${report.environment}`,
    `- Change: ${report.change} (the drill's own; nothing real was touched)`,
    `- Alarm: ${input.alarmName}, set to ALARM by the drill`,
    '',
    '| phase | seconds | seed 004 target |',
    '|---|---:|---:|',
    `| change -> alarm | ${phases.changeToAlarm} | |`,
    `| alarm -> rolled back and verified | ${phases.alarmToRolledBack} | ${RECOVERY_TARGETS.total} (${withinTarget ? 'within' : 'MISSED'}) |`,
    `| total | ${phases.total} | |`,
    '',
  ].join('\n');
  await deps.blobs.put(`${prefix}.json`, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
  await deps.blobs.put(`${prefix}.md`, markdown, 'text/markdown');
  const timestamp = deps.clock.now();
  await deps.metrics?.put(
    Object.entries(phases).map(([phase, value]) => ({
      name: 'DrillSeconds',
      value,
      unit: 'Seconds' as const,
      dimensions: { Environment: deps.config.environment, Kind: input.kind, Phase: phase },
      timestamp,
      storageResolution: 60 as const,
    })),
  );
  // Another rollback alarm recorded on the drill's incident was deduplicated into it, so no router
  // handled it: the drill says so (and fails) rather than let a real alarm go unanswered.
  const realAlarms = [
    ...new Set(input.incidentAlarms.map((a) => a.M.name.S).filter((name) => name !== input.alarmName)),
  ];
  return {
    reportKey: `${prefix}.md`,
    phases,
    withinTarget,
    realAlarms,
    realAlarmNames: realAlarms.join(', '),
  };
}
