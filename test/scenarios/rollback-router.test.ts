import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentReport } from '../../functions/incident-report/incident-report';
import type { IncidentsConfig } from '../../lib/config/alarm-schema';
import type { Hook } from '../../local/engine';
import { World } from '../../local/world';
import { alarmStateChange } from '../support/alarm-events';
import { changeRecordOf, flagState, memoryRoundTrip, noticeOf, pathOf } from '../support/world';

/**
 * The rollback router, run from its ASL file against the reference memory stack with events in
 * the shape CloudWatch sends to EventBridge. Each case asserts the path taken and the end state:
 * flags, what the API really serves, the lock, the incident item, change records, the report in
 * "S3", the metrics and the notifications.
 */
const ENV = 'rehearsal';
const ALARM = `switchback-${ENV}-s004-error-rate`;

let world: (World & { dispose(): Promise<void> }) | undefined;
afterEach(async () => {
  await world?.dispose();
  world = undefined;
});

async function open(
  options: {
    hooks?: Record<string, Hook>;
    incidents?: Partial<IncidentsConfig>;
    sidecarApiKey?: string;
  } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-router-'));
  const w = await World.start({
    dir,
    environment: ENV,
    timing: { stabilityMaxAttempts: 30, httpTimeoutMs: 3_000 },
    engine: { waitOverrideMs: 100, hooks: options.hooks },
    incidents: options.incidents,
    sidecarApiKey: options.sidecarApiKey,
  });
  world = Object.assign(w, {
    async dispose() {
      await w.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
  return world;
}

/** An alarm that went to ALARM a moment ago (the event's state timestamp is the detection time). */
const alarm = (name = ALARM, state: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA' = 'ALARM') =>
  alarmStateChange(name, { state, at: new Date(Date.now() - 1_500) });

async function cutover(w: World) {
  const run = await w.engine.run('provider-cutover', { reason: 'move memory to the mem0 sidecar' });
  expect(run.status).toBe('SUCCEEDED');
  expect((await w.apiHealth()).body.provider).toBe('http');
  return run;
}

const executionsOf = (w: World, procedure: string) =>
  w.engine.executions.filter((e) => e.procedure === procedure);
const incidentItem = (w: World) => w.dynamo.getLock(w.lockTable, `${ENV}#incident`);

async function reportOf(w: World, key: string) {
  const json = await w.blobs.get(key);
  const md = await w.blobs.get(key.replace(/\.json$/, '.md'));
  return {
    report: JSON.parse(new TextDecoder().decode(json)) as IncidentReport,
    markdown: new TextDecoder().decode(md),
  };
}

/** What "nothing changed" is checked against: flag values and versions, lock, incident, API. */
async function snapshot(w: World) {
  return {
    flags: await flagState(w),
    lock: await w.lock(),
    incident: await incidentItem(w),
    provider: (await w.apiHealth()).body.provider,
  };
}

describe('rollback-router', () => {
  it('alarm during an in-flight cutover: the cutover is stopped, its change rolled back from the record and verified', async () => {
    let router: Promise<Awaited<ReturnType<World['engine']['run']>>> | undefined;
    const w = await open({
      hooks: {
        // The flags are switched and the API restarted on http; the alarm fires while the cutover verifies.
        'provider-cutover:VerifyMemoryThroughApi': async ({ engine }) => {
          router ??= engine.run('rollback-router', alarm());
          await router;
        },
      },
    });
    const before = await flagState(w);
    const cut = await w.engine.run('provider-cutover', { reason: 'move memory to the mem0 sidecar' });
    const run = await (router as NonNullable<typeof router>);

    expect(cut.status).toBe('ABORTED');
    expect(cut.error).toBe('StoppedByRollbackRouter');
    expect(cut.cause).toContain(run.arn);
    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual([
      'ParseAlarm',
      'OpenIncident',
      'ReadLock',
      'PlanResponse',
      'TakeOverLock',
      'StopInFlight',
      'SettleAfterStop',
      'ConfirmRecord',
      'RunProviderRollback',
      'StartProviderRollback',
      'ReleaseLock',
      'WriteReport',
      'CloseIncident',
      'Notify',
      'PublishNotice',
      'Done',
    ]);
    // The rollback ran under the router's lock, from the cutover's change record.
    const [rollback] = executionsOf(w, 'provider-rollback');
    expect(rollback?.parentArn).toBe(run.arn);
    expect(rollback?.status).toBe('SUCCEEDED');
    expect((rollback?.input as { changeId?: string } | undefined)?.changeId).toBe(cut.name);
    expect(executionsOf(w, 'provider-rollback')).toHaveLength(1);
    // End state: native again, for real, and the change is marked rolled back.
    const flags = await flagState(w);
    expect(flags['memory/provider']?.value).toBe('native');
    expect(flags['maintenance-mode']?.value).toBe('off');
    expect(flags['automation/paused']).toEqual(before['automation/paused']);
    expect(await memoryRoundTrip(w, 'native memory after the alarm')).toEqual({
      written: 201,
      provider: 'native',
      recalled: true,
    });
    expect((await changeRecordOf(w, cut.name))?.status).toBe('rolled-back');
    expect(await w.lock()).toBeUndefined();
    // The janitor, started by the aborted cutover, found the lock taken over and left it alone.
    const janitors = executionsOf(w, 'lock-janitor').filter(
      (j) => (j.input as { detail: { executionArn: string } }).detail.executionArn === cut.arn,
    );
    expect(janitors.map((j) => pathOf(j))).toEqual([
      ['ReleaseOrphanedIncident', 'ReadLeftLock', 'ObserveEnvironment', 'NothingToRelease'],
    ]);

    const output = run.output as { outcome: string; report: { json: string }; lock: string };
    expect(output.outcome).toBe('rolled-back');
    expect(output.lock).toBe('released');
    const { report, markdown } = await reportOf(w, output.report.json.replace(/^s3:\/\/[^/]+\//, ''));
    expect(report.decision).toMatchObject({
      action: 'stop-in-flight',
      changeId: cut.name,
      procedure: 'provider-rollback',
    });
    expect(report.actions.map((a) => a.what)).toEqual(
      expect.arrayContaining([`Lock taken over from ${cut.arn} (provider-cutover)`, `Stopped ${cut.arn}`]),
    );
    expect(markdown).toContain('# Rollback Incident Report');
    const incident = await incidentItem(w);
    expect(incident).toMatchObject({ status: 'rolled-back', incidentId: run.name });
    const notices = w.engine.notifications.filter((n) => n.executionArn === run.arn);
    expect(notices.map((n) => n.attributes.outcome)).toEqual(['rolled-back']);
    const links = noticeOf(notices[0]).report as { markdown: string };
    expect(links.markdown).toMatch(new RegExp(`^s3://switchback-${ENV}-backups/incidents/${ENV}/.+\\.md$`));
    // The text people read links the report in the S3 console and says what happened.
    expect(notices[0]?.subject).toMatch(new RegExp(`^Switchback ${ENV}: alarm rollback verified`));
    expect(notices[0]?.message).toContain('  report.markdown: https://console.aws.amazon.com/s3/object/');
    expect(notices[0]?.message).toMatch(/What happened\n {2}.+ went to ALARM in /);
  });

  it('alarm with nothing in flight: the last completed change is rolled back and verified, and the report has every phase', async () => {
    const w = await open();
    const cut = await cutover(w);
    const event = alarm();
    const run = await w.engine.run('rollback-router', event);

    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual([
      'ParseAlarm',
      'OpenIncident',
      'ReadLock',
      'PlanResponse',
      'AcquireLock',
      'RunProviderRollback',
      'StartProviderRollback',
      'ReleaseLock',
      'WriteReport',
      'CloseIncident',
      'Notify',
      'PublishNotice',
      'Done',
    ]);
    expect((await flagState(w))['memory/provider']?.value).toBe('native');
    expect((await w.apiHealth()).body.provider).toBe('native');
    expect((await changeRecordOf(w, cut.name))?.status).toBe('rolled-back');
    expect(await w.lock()).toBeUndefined();

    const output = run.output as { report: { json: string } };
    const { report, markdown } = await reportOf(w, output.report.json.replace(/^s3:\/\/[^/]+\//, ''));
    expect(report).toMatchObject({
      outcome: 'rolled-back',
      environment: ENV,
      incidentId: run.name,
      rollbackType: 'automatic code rollback (provider-rollback)',
      trigger: { alarm: ALARM, seed: '004', title: 'Error rate > 10 % for 5 min', transition: 'OK -> ALARM' },
      impact: { service: 'api', issueType: 'critical-bug', severity: 'high', priority: 'P0' },
      decision: { action: 'undo-last', changeId: cut.name },
      lock: 'released',
    });
    // Every phase timestamp, in order: alarm state change -> router start -> rollback start -> verified.
    const t = report.timeline;
    expect(t.alarmStateChangedAt).toBe(new Date(Date.parse(event.detail.state.timestamp)).toISOString());
    // $$.Execution.StartTime: after the engine registered the execution, before its first state.
    const routerAt = Date.parse(t.routerStartedAt);
    expect(routerAt).toBeGreaterThanOrEqual(run.startedAt);
    expect(routerAt).toBeLessThanOrEqual(run.steps[0]?.startedAt ?? 0);
    const [rollback] = executionsOf(w, 'provider-rollback');
    expect(t.rollbackStartedAt).toBe(new Date(rollback?.startedAt ?? 0).toISOString());
    expect(t.verifiedAt).toBe(new Date(rollback?.stoppedAt ?? 0).toISOString());
    const times = [
      t.alarmStateChangedAt,
      t.routerStartedAt,
      t.rollbackStartedAt,
      t.verifiedAt,
      t.reportedAt,
    ].map((x) => Date.parse(x ?? ''));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    for (const phase of Object.values(report.phases)) {
      expect(phase.seconds).toBeGreaterThanOrEqual(0);
      expect(phase.withinTarget).toBe(true);
    }
    expect(report.validation.serviceStatus).toContain('memory provider "native"');
    expect(markdown).toContain('## Incident Details');
    expect(markdown).toContain('## Rollback Actions Taken');
    expect(markdown).toContain('## Validation Results');
    expect(markdown).toContain('| total (alarm -> verified) |');
    // The phases were published as metrics, the values the report holds.
    const published = Object.fromEntries(
      w.metrics.data.filter((d) => d.unit === 'Seconds').map((d) => [d.name, d.value]),
    );
    expect(published).toEqual({
      AlarmToRouterSeconds: report.phases.detectToDecide.seconds,
      RouterToRollbackSeconds: report.phases.decideToExecute.seconds,
      RollbackToVerifiedSeconds: report.phases.executeToVerify.seconds,
      AlarmToVerifiedSeconds: report.phases.total.seconds,
    });
    expect(w.metrics.named('Incidents').map((d) => d.dimensions)).toEqual([
      { Environment: ENV, Outcome: 'rolled-back' },
    ]);
  });

  it('a storm of 20 alarm events makes exactly one rollback; the others are recorded on the incident', async () => {
    const w = await open();
    await cutover(w);
    const names = [
      ALARM,
      `switchback-${ENV}-s001-error-rate`,
      `switchback-${ENV}-s002-error-rate`,
      `switchback-${ENV}-s001-api-down`,
      `switchback-${ENV}-s004-degradation`,
    ];
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => w.engine.run('rollback-router', alarm(names[i % names.length]))),
    );

    expect(runs.map((r) => r.status)).toEqual(Array(20).fill('SUCCEEDED'));
    const outcomes = runs.map((r) => (r.output as { outcome: string }).outcome);
    expect(outcomes.filter((o) => o === 'rolled-back')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'deduplicated')).toHaveLength(19);
    expect(executionsOf(w, 'provider-rollback')).toHaveLength(1);
    const handler = runs.find((r) => (r.output as { outcome: string }).outcome === 'rolled-back');
    for (const r of runs.filter((x) => x !== handler)) {
      expect(pathOf(r)).toEqual(['ParseAlarm', 'OpenIncident', 'RecordOnIncident', 'Deduplicated']);
    }
    const incident = await incidentItem(w);
    expect(incident).toMatchObject({
      status: 'rolled-back',
      incidentId: handler?.name,
      alarmCount: '{"N":"20"}',
    });
    expect(w.engine.notifications.map((n) => n.attributes.outcome)).toEqual([
      'cutover-succeeded',
      'rolled-back',
    ]);
    expect((await w.apiHealth()).body.provider).toBe('native');
    expect(await w.lock()).toBeUndefined();

    // Within the cool-down, a later alarm is still absorbed by the closed incident.
    const late = await w.engine.run('rollback-router', alarm());
    expect((late.output as { outcome: string }).outcome).toBe('deduplicated');
    expect(executionsOf(w, 'provider-rollback')).toHaveLength(1);
  });

  it.each([
    ['OK', 'OK'],
    ['INSUFFICIENT_DATA', 'INSUFFICIENT_DATA'],
  ] as const)('an %s event is ignored with a log line; nothing changes', async (_label, state) => {
    const w = await open();
    await cutover(w);
    const before = await snapshot(w);
    const run = await w.engine.run('rollback-router', alarm(ALARM, state));

    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual(['ParseAlarm', 'Ignored']);
    expect(run.output).toMatchObject({
      outcome: 'ignored',
      why: `${ALARM} changed to ${state}; only ALARM starts a rollback`,
    });
    expect(await snapshot(w)).toEqual(before);
    expect(executionsOf(w, 'provider-rollback')).toHaveLength(0);
    expect(w.engine.notifications.filter((n) => n.executionArn === run.arn)).toEqual([]);
    expect(
      w.logs.entries.filter((e) => e.execution === run.arn && e.message === 'alarm event ignored'),
    ).toHaveLength(1);
  });

  it('malformed and foreign events are refused (or, for alarms that are not ours, ignored); nothing changes', async () => {
    const w = await open();
    await cutover(w);
    const before = await snapshot(w);
    const good = alarm();
    const { state: _dropped, ...detailWithoutState } = good.detail;
    const cases = [
      { label: 'no state', event: { ...good, detail: detailWithoutState }, refused: /detail\.state/ },
      {
        label: 'state not a known value',
        event: { ...good, detail: { ...good.detail, state: { ...good.detail.state, value: 'PANIC' } } },
        refused: /detail\.state\.value/,
      },
      { label: 'not JSON object', event: 'ALARM', refused: /not an event object/ },
      {
        label: 'another source',
        event: { ...good, source: 'my.app', 'detail-type': 'CloudWatch Alarm State Change' },
        refused: /source "my\.app"/,
      },
      {
        label: 'another event type',
        event: { ...good, 'detail-type': 'EC2 Instance State-change Notification' },
        refused: /detail-type/,
      },
      {
        label: 'another environment',
        event: alarm('switchback-prod-s004-error-rate'),
        ignored: /not a rollback alarm/,
      },
      {
        label: 'a notify-only alarm',
        event: alarm(`switchback-${ENV}-s003-cpu`),
        ignored: /not a rollback alarm/,
      },
    ];
    for (const c of cases) {
      const run = await w.engine.run('rollback-router', c.event);
      if (c.refused) {
        expect(run.status, c.label).toBe('FAILED');
        expect(run.error, c.label).toBe('InvalidInputError');
        expect(run.cause, c.label).toMatch(c.refused);
        expect(pathOf(run), c.label).toEqual(['ParseAlarm', 'EventRefused']);
      } else {
        expect(run.status, c.label).toBe('SUCCEEDED');
        expect((run.output as { why: string }).why, c.label).toMatch(c.ignored as RegExp);
        expect(pathOf(run), c.label).toEqual(['ParseAlarm', 'Ignored']);
      }
    }
    expect(await snapshot(w)).toEqual(before);
    expect(executionsOf(w, 'provider-rollback')).toHaveLength(0);
    expect(w.engine.notifications.map((n) => n.attributes.outcome)).toEqual(['cutover-succeeded']);
  });

  it('with automation paused, the alarm is only notified: no incident, no lock, no rollback', async () => {
    const w = await open();
    await cutover(w);
    w.parameters.putParameter(`/switchback/${ENV}/automation/paused`, 'true', 'String');
    const before = await snapshot(w);
    const run = await w.engine.run('rollback-router', alarm());

    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual(['ParseAlarm', 'Notify', 'PublishNotice', 'Done']);
    expect(await snapshot(w)).toEqual(before);
    expect(before.provider).toBe('http');
    expect(executionsOf(w, 'provider-rollback')).toHaveLength(0);
    const notices = w.engine.notifications.filter((n) => n.executionArn === run.arn);
    expect(notices.map((n) => [n.attributes.outcome, n.subject])).toEqual([
      ['paused', `Switchback ${ENV}: alarm notified only, automation is paused`],
    ]);
    expect(noticeOf(notices[0]).summary).toContain('automation/paused=true');
  });

  it('a rollback that refuses (a flag changed since the cutover) changes nothing; the router fails, lock released, report says why', async () => {
    const w = await open();
    const cut = await cutover(w);
    // An operator pointed the API at another sidecar after the cutover: not ours to overwrite.
    await w.parameters.put('memory/http-base', 'http://127.0.0.1:9');
    const before = await flagState(w);
    const run = await w.engine.run('rollback-router', alarm());

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RollbackRefusedError');
    expect(pathOf(run).slice(-8)).toEqual([
      'RunProviderRollback',
      'StartProviderRollback',
      'ReleaseLock',
      'WriteReport',
      'CloseIncident',
      'Notify',
      'PublishNotice',
      'RollbackRefused',
    ]);
    expect(await flagState(w)).toEqual(before);
    expect(await w.lock()).toBeUndefined();
    expect((await changeRecordOf(w, cut.name))?.status).toBe('completed');
    const notice = w.engine.notifications.find((n) => n.executionArn === run.arn);
    expect(notice?.attributes.outcome).toBe('rollback-refused');
    const { report } = await reportOf(w, `incidents/${ENV}/${run.name}.json`);
    expect(report.outcome).toBe('rollback-refused');
    expect(report.validation.serviceStatus).toContain('FlagDriftError');
    expect(report.timeline.verifiedAt).toBeNull();
    expect(report.phases.total).toEqual({ seconds: null, targetSeconds: 900, withinTarget: null });
  });

  it('holds (notify only) when the last completed change is older than maxChangeAgeHours', async () => {
    const w = await open({ incidents: { maxChangeAgeHours: 0.1, cooldownMinutes: 1 } });
    await cutover(w);
    // Make the cutover look old: rewrite its completion time.
    const [cutRun] = executionsOf(w, 'provider-cutover');
    const record = await changeRecordOf(w, cutRun?.name ?? '');
    const old = new Date(Date.now() - 3_600_000).toISOString();
    await w.blobs.put(
      `change-records/${ENV}/${record?.changeId}.json`,
      JSON.stringify({ ...record, events: record?.events.map((e) => ({ ...e, at: old })) }),
      'application/json',
    );
    // And the journal, which the router reads first: the cutover's entries, an hour old.
    for (const e of await w.journalEntries()) {
      if (e.change.type !== 'procedure' || e.change.changeId !== record?.changeId) continue;
      await w.dynamo.client.send(
        new DeleteItemCommand({
          TableName: `switchback-${ENV}-journal`,
          Key: { pk: { S: e.environment }, sk: { S: e.entryId } },
        }),
      );
      await w.journal.put({ ...e, at: old, entryId: e.entryId.replace(e.at, old) });
    }
    const before = await flagState(w);
    const run = await w.engine.run('rollback-router', alarm());

    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual([
      'ParseAlarm',
      'OpenIncident',
      'ReadLock',
      'PlanResponse',
      'WriteReport',
      'CloseIncident',
      'Notify',
      'PublishNotice',
      'Done',
    ]);
    expect(run.output).toMatchObject({ outcome: 'held', lock: 'not taken' });
    expect((run.output as { summary: string }).summary).toMatch(/completed 1\.0 h ago, more than 0\.1 h/);
    expect(await flagState(w)).toEqual(before);
    expect(await w.lock()).toBeUndefined();
    expect(executionsOf(w, 'provider-rollback')).toHaveLength(0);
  });
  it('leaves no secret in its executions, report, notifications, logs or metrics', async () => {
    const SECRET = 'sk-live-CANARY-router-5e1d7c3a9b2f4d6e';
    const w = await open({ sidecarApiKey: SECRET });
    await cutover(w);
    const run = await w.engine.run('rollback-router', alarm());
    expect((run.output as { outcome: string }).outcome).toBe('rolled-back');
    // The key was used: the cutover's sidecar smoke test sent it, and the API on http sends it too.
    const reportKeys = await w.blobs.list(`incidents/${ENV}/`);
    expect(reportKeys).toHaveLength(2);
    const traces = [
      JSON.stringify(w.engine.executions),
      JSON.stringify(w.engine.notifications),
      JSON.stringify(w.logs.entries),
      JSON.stringify(w.metrics.data),
      JSON.stringify(await incidentItem(w)),
      ...(await Promise.all(reportKeys.map(async (k) => new TextDecoder().decode(await w.blobs.get(k))))),
    ];
    // Booleans, not toContain: a failure message must not print the secret either.
    for (const [i, trace] of traces.entries()) expect(trace.includes(SECRET), `trace #${i}`).toBe(false);
  });
});
