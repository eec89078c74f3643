import { describe, expect, it } from 'vitest';
import { planCodeRollback } from '../../functions/shared/code-rollback-plan';
import { newEntry } from '../../functions/shared/journal';
import type { AlarmHistory } from '../../functions/shared/last-known-good';
import { deployment, serviceState } from '../support/fakes';

const TD = (n: number) => `arn:aws:ecs:eu-west-1:111122223333:task-definition/memory-api:${n}`;
const NOW = new Date('2025-03-01T12:00:00.000Z');
const options = { bakeMinutes: 30, now: NOW };
const ALARM: AlarmHistory = {
  coversSince: '2025-02-28T00:00:00.000Z',
  intervals: [{ alarm: 'switchback-test-s004-error-rate', from: '2025-03-01T11:50:00.000Z', to: null }],
};

function deploy(
  at: string,
  id: string,
  from: number,
  to: number,
  state: 'IN_PROGRESS' | 'COMPLETED' = 'IN_PROGRESS',
) {
  return newEntry({
    environment: 'test',
    at,
    source: 'aws.ecs',
    sourceEventId: id,
    kind: 'code',
    subject: 'service:api',
    actor: null,
    change: {
      type: 'deployment',
      service: 'api',
      serviceName: 'memory-api',
      deploymentId: `ecs-svc/${to}`,
      serviceDeploymentArn: null,
      state,
      rollback: false,
      from: TD(from),
      to: TD(to),
    },
    now: NOW,
    retentionDays: 90,
  });
}

const entries = [
  deploy('2025-03-01T09:00:00.000Z', 'a', 1, 2),
  deploy('2025-03-01T11:45:00.000Z', 'b', 2, 3),
];
const onto = (td: string, extra: Parameters<typeof deployment>[0] = {}) =>
  serviceState([deployment({ taskDefinition: td, rolloutState: 'COMPLETED', ...extra })]);

describe('code rollback plan (what plan mode reports)', () => {
  it('a CI deploy that alarmed in its bake: update the service from it back to the LKG, naming what it undoes', () => {
    const [plan] = planCodeRollback({
      services: ['api'],
      entries,
      history: ALARM,
      current: { api: { ...onto(TD(3)), taskDefinition: TD(3) } },
      options,
    });
    expect(plan).toEqual({
      service: 'api',
      action: 'update-service',
      from: TD(3),
      to: TD(2),
      deploymentId: null,
      undoes: [entries[1]?.entryId],
      reason: `${TD(3)} went into service after the last known good ${TD(2)} (in service since 2025-03-01T09:00:00.000Z)`,
    });
  });

  it('a deployment still in progress away from the LKG, with the LKG as the previous deployment: stop it (ROLLBACK)', () => {
    const current = {
      ...serviceState([
        deployment({
          id: 'ecs-svc/3',
          status: 'PRIMARY',
          rolloutState: 'IN_PROGRESS',
          taskDefinition: TD(3),
        }),
        deployment({ id: 'ecs-svc/2', status: 'ACTIVE', rolloutState: 'COMPLETED', taskDefinition: TD(2) }),
      ]),
      taskDefinition: TD(3),
    };
    const [plan] = planCodeRollback({
      services: ['api'],
      entries,
      history: ALARM,
      current: { api: current },
      options,
    });
    expect(plan).toMatchObject({
      action: 'stop-deployment',
      from: TD(3),
      to: TD(2),
      deploymentId: 'ecs-svc/3',
    });
  });

  it('already on the LKG: nothing to do; nothing known good: hold with every reason, never a guess', () => {
    const [same] = planCodeRollback({
      services: ['api'],
      entries,
      history: ALARM,
      current: { api: { ...onto(TD(2)), taskDefinition: TD(2) } },
      options,
    });
    expect(same).toMatchObject({ action: 'nothing', to: TD(2), undoes: [] });
    const everAlarmed: AlarmHistory = {
      coversSince: '2025-03-01T08:59:00.000Z',
      intervals: [{ alarm: 'x', from: '2025-03-01T09:01:00.000Z', to: null }],
    };
    const [hold] = planCodeRollback({
      services: ['api'],
      entries,
      history: everAlarmed,
      current: { api: { ...onto(TD(3)), taskDefinition: TD(3) } },
      options,
    });
    expect(hold).toMatchObject({
      action: 'hold',
      from: TD(3),
      reason: expect.stringMatching(/^no state of service:api is known good: /),
    });
    expect(hold && 'verdicts' in hold ? hold.verdicts.map((v) => v.good) : []).toEqual([false, false, false]);
  });
});
