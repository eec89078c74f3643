import { describe, expect, it } from 'vitest';
import { routeAlarm } from '../../functions/route-alarm/route-alarm';
import { ConfigurationError, InvalidFlagValueError, InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { localAlarmCatalog } from '../../local/alarm-catalog';
import { alarmStateChange } from '../support/alarm-events';
import { fakeDeps, MemoryFlagStore, SEED_FLAGS } from '../support/fakes';

const catalog = localAlarmCatalog('test');
const deps = (flags = new MemoryFlagStore()) => fakeDeps({ flags, alarms: catalog });
const route = (event: unknown, d = deps()) =>
  invokeStep(routeAlarm, { event, executionName: 'incident-1' }, d);

describe('route-alarm', () => {
  it('routes a rollback alarm going to ALARM, with the decision matrix row and the incident to open', async () => {
    const d = deps();
    const event = alarmStateChange('switchback-test-s004-error-rate', {
      at: new Date('2025-03-01T09:59:00.250Z'),
    });
    const result = await route(event, d);
    expect(result).toEqual({
      disposition: 'route',
      // The stage's stability timing, for a hold the router may have to make.
      timing: d.config.timing,
      why: 'switchback-test-s004-error-rate (critical-bug/high, P0): code rollback by provider-rollback',
      alarm: {
        id: 's004-error-rate',
        name: 'switchback-test-s004-error-rate',
        title: 'Error rate > 10 % for 5 min',
        seed: '004',
        service: 'api',
        state: 'ALARM',
        previousState: 'OK',
        reason: event.detail.state.reason,
        reasonData: event.detail.state.reasonData,
        // CloudWatch's "+0000" timestamp, normalised.
        stateChangedAt: '2025-03-01T09:59:00.250Z',
        arn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:switchback-test-s004-error-rate',
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
        id: 'incident-1',
        key: 'test#incident',
        // The fake clock: 2025-03-01T10:00:00Z; the cool-down is 30 minutes.
        now: '1740823200',
        expiresAt: String(1740823200 + 30 * 60),
        cooldownMinutes: 30,
        settleSeconds: 5,
        maxChangeAgeHours: 24,
      },
    });
    expect(d.flags.puts).toEqual([]);
  });

  it('maps a config-error alarm (seed 002) to a config rollback', async () => {
    const result = await route(alarmStateChange('switchback-test-s002-error-rate'));
    expect(result.decision).toMatchObject({ issueType: 'config-error', rollback: 'config', priority: 'P1' });
  });

  it.each(['OK', 'INSUFFICIENT_DATA'] as const)('ignores %s, with a log line', async (state) => {
    const d = deps();
    const result = await route(alarmStateChange('switchback-test-s004-error-rate', { state }), d);
    expect(result).toMatchObject({ disposition: 'ignore', decision: null, incident: null });
    expect(result.why).toBe(
      `switchback-test-s004-error-rate changed to ${state}; only ALARM starts a rollback`,
    );
    expect(d.log.lines).toEqual([
      expect.objectContaining({
        level: 'info',
        message: 'alarm event ignored',
        extra: expect.objectContaining({ state }),
      }),
    ]);
  });

  it.each([
    ['another environment', 'switchback-prod-s004-error-rate'],
    ['a notify-only alarm', 'switchback-test-s003-cpu'],
    ['an alarm of someone else', 'ServerCpuTooHigh'],
    ['a name that is only an object key', 'switchback-test-constructor'],
  ])('ignores %s', async (_label, name) => {
    const d = deps();
    const result = await route(alarmStateChange(name), d);
    expect(result).toMatchObject({ disposition: 'ignore', alarm: null });
    expect(result.why).toBe(`${name} is not a rollback alarm of environment test; nothing to do`);
    expect(d.log.lines.map((l) => l.message)).toEqual(['alarm event ignored']);
  });

  it('with automation/paused set, only notifies', async () => {
    const flags = new MemoryFlagStore({ ...SEED_FLAGS, 'automation/paused': 'true' });
    const result = await route(alarmStateChange('switchback-test-s001-api-down'), deps(flags));
    expect(result).toMatchObject({ disposition: 'paused', incident: null, alarm: { id: 's001-api-down' } });
    expect(result.why).toContain('automation/paused is "true"');
  });

  it('never reads a kill switch it cannot parse as "not paused"', async () => {
    const flags = new MemoryFlagStore({ ...SEED_FLAGS, 'automation/paused': 'yes' });
    await expect(
      route(alarmStateChange('switchback-test-s001-api-down'), deps(flags)),
    ).rejects.toBeInstanceOf(InvalidFlagValueError);
  });

  it.each([
    ['a string', 'ALARM', /not an event object/],
    ['another source', { ...alarmStateChange('x'), source: 'my.app' }, /source "my\.app"/],
    [
      'another detail-type',
      { ...alarmStateChange('x'), 'detail-type': 'Scheduled Event' },
      /detail-type "Scheduled Event"/,
    ],
  ])('refuses %s as foreign, naming what it saw', async (_label, event, message) => {
    const err = await route(event).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain('Nothing was changed');
  });

  it('refuses a malformed alarm event, naming each bad field', async () => {
    const good = alarmStateChange('switchback-test-s004-error-rate');
    const bad = {
      ...good,
      account: 'me',
      detail: { ...good.detail, state: { ...good.detail.state, value: 'PANIC', timestamp: 'yesterday' } },
    };
    const err = (await route(bad).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err.message).toContain('account');
    expect(err.message).toContain('detail.state.value');
    expect(err.message).toContain('detail.state.timestamp');
  });

  it('needs the alarm catalog', async () => {
    const err = await invokeStep(
      routeAlarm,
      { event: alarmStateChange('x'), executionName: 'i' },
      fakeDeps(),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigurationError);
  });
});
