import { describe, expect, it } from 'vitest';
import { type IncidentReport, incidentReport } from '../../functions/incident-report/incident-report';
import { InvalidInputError } from '../../functions/shared/errors';
import type { MetricDatum } from '../../functions/shared/ports';
import { invokeStep } from '../../functions/shared/step';
import { RecordingMetrics } from '../../local/adapters/recording-metrics';
import { FixedClock, fakeDeps } from '../support/fakes';

const ROUTER = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-test-rollback-router:inc-1';
const ROLLBACK = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-test-provider-rollback:rb-1';
const CUTOVER = 'arn:aws:states:eu-west-1:123456789012:execution:switchback-test-provider-cutover:co-7';
// Alarm 10:00:00 -> router 10:00:02 -> rollback 10:00:05 -> verified 10:01:35 -> report 10:01:40.
const T = {
  alarm: '2025-03-01T10:00:00.000Z',
  router: '2025-03-01T10:00:02.000Z',
  rollback: Date.parse('2025-03-01T10:00:05.000Z'),
  verified: Date.parse('2025-03-01T10:01:35.000Z'),
  report: '2025-03-01T10:01:40.000Z',
};

const EMPTY = {
  stop: null,
  stopError: null,
  confirm: null,
  confirmError: null,
  rollback: null,
  rollbackFailure: null,
  lockRelease: null,
  lockReleaseError: null,
  planError: null,
  lockAttempts: { n: 0 },
};

function input(plan: Record<string, unknown>, response: Record<string, unknown> = {}) {
  return {
    incidentId: 'inc-1',
    executionId: ROUTER,
    routerStartedAt: T.router,
    route: {
      disposition: 'route',
      why: 'x',
      alarm: {
        id: 's004-error-rate',
        name: 'switchback-test-s004-error-rate',
        title: 'Error rate > 10 % for 5 min',
        seed: '004',
        service: 'api',
        state: 'ALARM',
        previousState: 'OK',
        reason: 'Threshold Crossed: 5 out of the last 5 datapoints were greater than the threshold (10.0)',
        reasonData: '{"recentDatapoints":[12.5,14.2],"threshold":10.0}',
        stateChangedAt: T.alarm,
        arn: null,
      },
      decision: {
        issueType: 'critical-bug',
        severity: 'high',
        priority: 'P0',
        rollback: 'code',
        procedure: 'provider-rollback',
        undoes: ['provider-cutover'],
      },
      incident: {
        id: 'inc-1',
        key: 'test#incident',
        now: '1',
        expiresAt: '2',
        cooldownMinutes: 30,
        settleSeconds: 5,
        maxChangeAgeHours: 24,
      },
    },
    plan: { procedure: 'provider-rollback', changeId: 'co-7', inFlight: null, lastChange: null, ...plan },
    response: { ...EMPTY, ...response },
  };
}

const undoLast = { action: 'undo-last', why: 'Nothing in flight: roll back the last completed change, co-7' };
const succeeded = {
  rollback: {
    executionArn: ROLLBACK,
    status: 'SUCCEEDED',
    startDate: T.rollback,
    stopDate: T.verified,
    output: {
      outcome: 'rolled-back',
      provider: 'native',
      changeId: 'co-7',
      flags: [{ name: 'memory/provider', value: 'native' }],
    },
  },
  lockRelease: { Attributes: {} },
};

function deps(metrics = new RecordingMetrics()) {
  return fakeDeps({ clock: new FixedClock(new Date(T.report)), metrics });
}
const stored = (d: ReturnType<typeof deps>) => d.blobs.json('incidents/test/inc-1.json') as IncidentReport;

describe('incident-report', () => {
  it('a verified rollback: JSON and Markdown reports, every phase timed against seed 004, metrics published', async () => {
    const metrics = new RecordingMetrics();
    const d = deps(metrics);
    const result = await invokeStep(incidentReport, input(undoLast, succeeded), d);

    expect(result).toMatchObject({
      outcome: 'rolled-back',
      reportKey: 'incidents/test/inc-1.json',
      markdownKey: 'incidents/test/inc-1.md',
      uri: 's3://switchback-test-records/incidents/test/inc-1.json',
      incidentExpiresAt: String(Date.parse(T.report) / 1000 + 30 * 60),
    });
    expect(d.blobs.contentTypes.get('incidents/test/inc-1.json')).toBe('application/json');
    expect(d.blobs.contentTypes.get('incidents/test/inc-1.md')).toBe('text/markdown; charset=utf-8');
    const report = stored(d);
    expect(report.timeline).toEqual({
      alarmStateChangedAt: T.alarm,
      routerStartedAt: T.router,
      rollbackStartedAt: '2025-03-01T10:00:05.000Z',
      verifiedAt: '2025-03-01T10:01:35.000Z',
      reportedAt: T.report,
    });
    expect(report.phases).toEqual({
      detectToDecide: { seconds: 2, targetSeconds: 300, withinTarget: true },
      decideToExecute: { seconds: 3, targetSeconds: 120, withinTarget: true },
      executeToVerify: { seconds: 90, targetSeconds: 300, withinTarget: true },
      total: { seconds: 95, targetSeconds: 900, withinTarget: true },
    });
    expect(report.trigger.datapoints).toEqual({ recentDatapoints: [12.5, 14.2], threshold: 10 });
    expect(report.validation.serviceStatus).toBe(
      'provider-rollback verified the API: it reports memory provider "native" and a marker memory was written and recalled through it. Flags restored: memory/provider=native.',
    );
    expect(report.lock).toBe('released');
    expect(report.actions.map((a) => a.at)).toEqual([
      T.alarm,
      T.router,
      null,
      null,
      '2025-03-01T10:00:05.000Z',
      '2025-03-01T10:01:35.000Z',
      null,
      T.report,
    ]);

    const md = d.blobs.text('incidents/test/inc-1.md') ?? '';
    for (const heading of [
      '# Rollback Incident Report',
      '**Date**: 2025-03-01',
      '**Time**: 10:00:00 UTC',
      '**Rollback Type**: automatic code rollback (provider-rollback)',
      '## Incident Details',
      '- **Trigger**: OK -> ALARM: Threshold Crossed',
      '- **Impact**: api (critical-bug, severity high, P0)',
      '## Rollback Actions Taken',
      '| total (alarm -> verified) | 95 s | 15 min | yes |',
      '## Validation Results',
      '## Root Cause Analysis',
      '## Prevention Measures',
    ]) {
      expect(md).toContain(heading);
    }
    // The phases drawn against seed 004's targets (a Mermaid chart, rendered where Markdown is read).
    expect(md).toContain('```mermaid\nxychart-beta');
    expect(md).toMatch(/ {2}line \[300, 120, 300, 900\]/);
    expect(md).toMatch(/ {2}bar \[[\d., ]+, 95\]/);

    const byName = (name: string): MetricDatum | undefined => metrics.named(name)[0];
    expect(
      [
        'AlarmToRouterSeconds',
        'RouterToRollbackSeconds',
        'RollbackToVerifiedSeconds',
        'AlarmToVerifiedSeconds',
      ].map((n) => byName(n)?.value),
    ).toEqual([2, 3, 90, 95]);
    expect(byName('AlarmToVerifiedSeconds')).toMatchObject({
      unit: 'Seconds',
      dimensions: { Environment: 'test' },
      storageResolution: 60,
    });
    expect(byName('Incidents')).toMatchObject({
      value: 1,
      dimensions: { Environment: 'test', Outcome: 'rolled-back' },
    });
    expect(result.notice).toMatchObject({
      outcome: 'rolled-back',
      subject: 'Switchback test: alarm rollback verified (s004-error-rate)',
      report: {
        json: 's3://switchback-test-records/incidents/test/inc-1.json',
        markdown: 's3://switchback-test-records/incidents/test/inc-1.md',
        console:
          'https://console.aws.amazon.com/s3/object/switchback-test-records?prefix=incidents%2Ftest%2Finc-1.md',
      },
      metricsPublished: true,
    });
  });

  it('a rollback that could not verify: failed, lock kept, no verified time; the child failure is read from its Cause', async () => {
    const metrics = new RecordingMetrics();
    const d = deps(metrics);
    const cause = JSON.stringify({
      ExecutionArn: ROLLBACK,
      Status: 'FAILED',
      StartDate: T.rollback,
      StopDate: T.verified,
      Error: 'RollbackFailedError',
      Cause: 'Maintenance mode is ON and the environment lock is HELD (status needs-operator).',
    });
    const result = await invokeStep(
      incidentReport,
      input(undoLast, {
        rollbackFailure: { Error: 'States.TaskFailed', Cause: cause },
        lockReleaseError: { Error: 'DynamoDB.ConditionalCheckFailedException', Cause: 'x' },
      }),
      d,
    );
    expect(result.outcome).toBe('rollback-failed');
    const report = stored(d);
    expect(report.lock).toBe('kept');
    expect(report.rollbackExecution).toBe(ROLLBACK);
    expect(report.timeline.rollbackStartedAt).toBe('2025-03-01T10:00:05.000Z');
    expect(report.timeline.verifiedAt).toBeNull();
    expect(report.phases.total.seconds).toBeNull();
    expect(report.validation.serviceStatus).toContain('RollbackFailedError: Maintenance mode is ON');
    expect(result.notice.subject).toBe(
      'Switchback test: ACTION NEEDED - alarm rollback failed (s004-error-rate)',
    );
    expect(metrics.data.map((m) => m.name)).toEqual([
      'AlarmToRouterSeconds',
      'RouterToRollbackSeconds',
      'Incidents',
    ]);
  });

  it('a refused rollback (camelCase Cause keys, ISO dates accepted too)', async () => {
    const d = deps();
    const cause = JSON.stringify({
      executionArn: ROLLBACK,
      startDate: '2025-03-01T10:00:05Z',
      error: 'RollbackRefusedError',
      cause: 'FlagDriftError: memory/http-base changed',
    });
    const result = await invokeStep(
      incidentReport,
      input(undoLast, {
        rollbackFailure: { Error: 'States.TaskFailed', Cause: cause },
        lockRelease: { Attributes: {} },
      }),
      d,
    );
    expect(result.outcome).toBe('rollback-refused');
    expect(stored(d).validation.dataIntegrity).toBe('Nothing was changed by the refused rollback.');
  });

  it('a cutover stopped before it recorded a change: nothing to undo', async () => {
    const d = deps();
    const result = await invokeStep(
      incidentReport,
      input(
        {
          action: 'stop-in-flight',
          why: 'in flight',
          inFlight: { owner: CUTOVER, procedure: 'provider-cutover', status: 'held' },
        },
        {
          stop: { StopDate: Date.parse('2025-03-01T10:00:03.000Z') },
          confirm: { recorded: false, status: null },
          lockRelease: { Attributes: {} },
        },
      ),
      d,
    );
    expect(result.outcome).toBe('stopped-before-change');
    expect(stored(d).actions.map((a) => a.what)).toEqual(
      expect.arrayContaining([
        `Lock taken over from ${CUTOVER} (provider-cutover)`,
        `Stopped ${CUTOVER}`,
        'No change record co-7: the cutover was stopped before it changed anything',
        'Environment lock released',
      ]),
    );
  });

  it('a hold: notify only, the lock was never taken', async () => {
    const d = deps();
    const result = await invokeStep(
      incidentReport,
      input({
        action: 'hold',
        why: 'No change of provider-cutover is recorded: nothing to roll back',
        changeId: null,
      }),
      d,
    );
    expect(result.outcome).toBe('held');
    expect(result.notice.summary).toContain(
      'No automatic rollback: No change of provider-cutover is recorded',
    );
    expect(stored(d)).toMatchObject({ lock: 'not taken', rollbackExecution: null });
  });

  it('keeps the report when the metrics cannot be published, and says so', async () => {
    const d = fakeDeps({
      clock: new FixedClock(new Date(T.report)),
      metrics: {
        put: async () => Promise.reject(Object.assign(new Error('denied'), { name: 'AccessDenied' })),
      },
    });
    const result = await invokeStep(incidentReport, input(undoLast, succeeded), d);
    expect(result.notice.metricsPublished).toBe(false);
    expect(stored(d).outcome).toBe('rolled-back');
    expect(d.log.lines).toContainEqual(
      expect.objectContaining({ level: 'error', extra: { errorName: 'AccessDenied' } }),
    );
  });

  it('refuses an input it cannot read, writing nothing', async () => {
    const d = deps();
    const bad = input(undoLast, succeeded);
    const err = await invokeStep(incidentReport, { ...bad, plan: { ...bad.plan, action: 'panic' } }, d).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toContain('plan.action');
    expect(d.blobs.objects.size).toBe(0);
  });
});

describe('incident-report: a rollback that could not start', () => {
  it('says it never started, that nothing changed, and that the lock was released', async () => {
    const d = deps();
    const result = await invokeStep(
      incidentReport,
      input(undoLast, {
        rollbackFailure: {
          Error: 'StepFunctions.StateMachineDoesNotExistException',
          Cause: 'no such machine',
        },
        lockRelease: { Attributes: {} },
      }),
      d,
    );
    expect(result.outcome).toBe('rollback-failed');
    const report = stored(d);
    expect(report.rollbackExecution).toBeNull();
    expect(report.validation.serviceStatus).toBe(
      'provider-rollback could not be started: StepFunctions.StateMachineDoesNotExistException: no such machine',
    );
    expect(report.validation.dataIntegrity).toBe('Nothing was changed: the rollback never started.');
    expect(result.notice.summary).toMatch(/The environment lock was released\.$/);
  });
});
