import { describe, expect, it } from 'vitest';
import { drill } from '../../functions/drill/drill';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps } from '../support/fakes';

const marker = { key: 'drill/MARKER', name: '/switchback/test/drill/marker' };
const entry = (name: string) => ({ M: { name: { S: name }, at: { S: '2025-03-01T10:00:01.000Z' } } });
const report = (incidentAlarms: unknown[]) =>
  invokeStep(
    drill,
    {
      action: 'report',
      drillId: 'drill-1',
      marker,
      kind: 'config',
      alarmName: 'switchback-test-s004-error-rate',
      startedAt: '2025-03-01T10:00:00.000Z',
      changedAt: '2025-03-01T10:00:00.500Z',
      raisedAt: '2025-03-01T10:00:01.000Z',
      rolledBackAt: '2025-03-01T10:00:31.000Z',
      incidentAlarms,
    },
    fakeDeps(),
  ) as Promise<{
    realAlarms: string[];
    realAlarmNames: string;
    phases: Record<string, number>;
    withinTarget: boolean;
  }>;

describe('drill: report', () => {
  it('times each phase against seed 004 and finds no real alarm on an incident of the drill alone', async () => {
    const out = await report([entry('switchback-test-s004-error-rate')]);
    expect(out.phases).toEqual({ changeToAlarm: 0.5, alarmToRolledBack: 30, total: 31 });
    expect(out.withinTarget).toBe(true);
    expect(out.realAlarms).toEqual([]);
  });

  it('names every other alarm recorded on the drill incident: deduplicated into it, no router handled it', async () => {
    const out = await report([
      entry('switchback-test-s004-error-rate'),
      entry('switchback-test-s001-api-down'),
      entry('switchback-test-s001-api-down'),
    ]);
    expect(out.realAlarms).toEqual(['switchback-test-s001-api-down']);
    expect(out.realAlarmNames).toBe('switchback-test-s001-api-down');
  });
});
