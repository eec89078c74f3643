import { describe, expect, it } from 'vitest';
import {
  type DisableRequest,
  featureInput,
  type RolloutRequest,
} from '../../functions/feature-input/feature-input';
import { InvalidInputError } from '../../functions/shared/errors';
import { invokeStep } from '../../functions/shared/step';
import { fakeDeps } from '../support/fakes';

const deps = fakeDeps();
const START = '2026-11-22T10:00:00.000Z';
const rollout = (input: unknown, name = 'rollout-1') =>
  invokeStep(
    featureInput,
    {
      procedure: 'feature-rollout',
      executionId: `arn:aws:states:x:1:execution:r:${name}`,
      executionName: name,
      startTime: START,
      input,
    },
    deps,
  ) as Promise<RolloutRequest>;
const disable = (input: unknown, name = 'disable-1') =>
  invokeStep(
    featureInput,
    {
      procedure: 'feature-disable',
      executionId: `arn:aws:states:x:1:execution:d:${name}`,
      executionName: name,
      startTime: START,
      input,
    },
    deps,
  ) as Promise<DisableRequest>;

describe('feature-rollout input', () => {
  it("defaults to seed 003's plan: off 4 h, internal 24 h, 10 % 48 h, 100 % 48 h, gate every 5 min", async () => {
    const r = await rollout({ reason: 'ship memory and context' });
    expect(r.phases.map((p) => [p.index, p.name, p.title, p.bakeSeconds, p.evaluations])).toEqual([
      [0, 'infrastructure', 'Phase 1: Infrastructure', 14_400, 48],
      [1, 'internal', 'Phase 2: Internal Users', 86_400, 288],
      [2, 'canary', 'Phase 3: 10% Traffic', 172_800, 576],
      [3, 'full', 'Phase 4: 100% Rollout', 172_800, 576],
    ]);
    expect(r.phases.map((p) => p.flag)).toEqual([
      { enabled: false, percentage: 0, allowList: [] },
      { enabled: true, percentage: 0, allowList: ['internal-test'] },
      { enabled: true, percentage: 10, allowList: ['internal-test'] },
      { enabled: true, percentage: 100, allowList: ['internal-test'] },
    ]);
    expect(r.gate).toEqual({
      intervalSeconds: 300,
      errorRateBelowPercent: 0.1,
      p95LatencyBelowMs: 500,
      memoryBelowMb: 512,
      cpuBelowPercent: 80,
      minRequests: 100,
      missingData: 'breaching',
      tolerance: 3,
      failOnP0Alarm: true,
    });
    expect(r).toMatchObject({
      rolloutId: 'rollout-1',
      phaseCount: 4,
      dryRun: false,
      approval: { required: false, timeoutSeconds: 86_400 },
      lock: { owner: 'arn:aws:states:x:1:execution:r:rollout-1', take: true },
      requestedBy: 'unknown',
      // What the hold for an operator polls its restart with (it failed with States.Runtime without).
      timing: { stabilityPollSeconds: 5, stabilityMaxAttempts: 6 },
    });
  });

  it('adjusts the seed plan: allow-list, canary percentage, skipped phase, bakes in seconds, gate, approval', async () => {
    const r = await rollout({
      reason: 'rehearse it',
      internalProjects: ['team-a', 'team-b'],
      canaryPercentage: 25,
      skipPhases: ['infrastructure'],
      bakeSeconds: { internal: 3, canary: 5, full: 2 },
      gate: { intervalSeconds: 2, tolerance: 1, missingData: 'ignore' },
      approval: { required: true, timeoutSeconds: 60 },
      dryRun: true,
    });
    expect(
      r.phases.map((p) => [p.name, p.flag.percentage, p.flag.allowList, p.bakeSeconds, p.evaluations]),
    ).toEqual([
      ['internal', 0, ['team-a', 'team-b'], 3, 2],
      ['canary', 25, ['team-a', 'team-b'], 5, 3],
      ['full', 100, ['team-a', 'team-b'], 2, 1],
    ]);
    expect(r.phases[1]?.title).toBe('Phase 3: 25% Traffic');
    expect(r.gate).toMatchObject({
      intervalSeconds: 2,
      tolerance: 1,
      missingData: 'ignore',
      minRequests: 100,
    });
    expect(r.lock.take).toBe(false);
  });

  it('takes a whole custom plan', async () => {
    const r = await rollout({
      reason: 'two steps',
      phases: [
        {
          name: 'half',
          title: 'Half',
          flag: { enabled: true, percentage: 50, allowList: [] },
          bakeSeconds: 600,
        },
        {
          name: 'all',
          title: 'All',
          flag: { enabled: true, percentage: 100, allowList: [] },
          bakeSeconds: 600,
        },
      ],
    });
    expect(r.phases.map((p) => [p.index, p.name, p.evaluations])).toEqual([
      [0, 'half', 2],
      [1, 'all', 2],
    ]);
  });

  it.each([
    ['no reason', {}, /reason/],
    [
      'phases and a shortcut',
      { reason: 'x y z', internalProjects: ['a'], phases: [] },
      /phases: give either phases or internalProjects/,
    ],
    [
      'every phase skipped',
      { reason: 'x y z', skipPhases: ['infrastructure', 'internal', 'canary', 'full'] },
      /skipPhases/,
    ],
    ['an unknown phase name', { reason: 'x y z', bakeSeconds: { beta: 5 } }, /bakeSeconds/],
    [
      'a bad flag in a custom phase',
      { reason: 'x y z', phases: [{ name: 'a', title: 'A', flag: { enabled: 'yes' }, bakeSeconds: 1 }] },
      /phases.0.flag.enabled/,
    ],
    [
      'two phases with one name',
      {
        reason: 'x y z',
        phases: [
          { name: 'a', title: 'A', flag: { enabled: true, percentage: 1, allowList: [] }, bakeSeconds: 1 },
          { name: 'a', title: 'B', flag: { enabled: true, percentage: 2, allowList: [] }, bakeSeconds: 1 },
        ],
      },
      /each phase name may appear once/,
    ],
    [
      'too many evaluations for one execution',
      { reason: 'x y z', gate: { intervalSeconds: 60 } },
      /needs 7440 gate evaluations/,
    ],
    [
      'approvals that make it longer than 20 days',
      {
        reason: 'x y z',
        approval: { required: true, timeoutSeconds: 172_800 },
        bakeSeconds: { infrastructure: 1_000_000 },
        gate: { intervalSeconds: 3600 },
      },
      /at most 1728000 s/,
    ],
    ['an unknown gate setting', { reason: 'x y z', gate: { errorRate: 1 } }, /Unrecognized key: "errorRate"/],
  ])('refuses %s with InvalidInputError', async (_n, input, message) => {
    const p = rollout(input);
    await expect(p).rejects.toThrow(InvalidInputError);
    await expect(p).rejects.toThrow(message);
  });

  it('refuses an execution name that cannot name a rollout log', async () => {
    await expect(rollout({ reason: 'x y z' }, 'a/b')).rejects.toThrow(/feature-rollout execution name/);
  });
});

describe('feature-disable input', () => {
  it('from the console: own lock, 60 s budget, operator trigger', async () => {
    const r = await disable({ reason: 'turn it off now' });
    expect(r).toEqual({
      procedure: 'feature-disable',
      environment: 'test',
      reason: 'turn it off now',
      requestedBy: 'unknown',
      rolloutId: null,
      trigger: { source: 'operator', alarmName: null, error: null, cause: null },
      budgetSeconds: 60,
      startedAt: START,
      lock: { owner: 'arn:aws:states:x:1:execution:d:disable-1', inherited: false },
      timing: { stabilityPollSeconds: 5, stabilityMaxAttempts: 6 },
    });
  });

  it('from a rollout: inherits its lock and names its log; the started-by key is not ours to refuse', async () => {
    const parent = 'arn:aws:states:x:1:execution:r:rollout-1';
    const r = await disable({
      reason: 'Automatic rollback of rollout rollout-1 after GateFailedError',
      rolloutId: 'rollout-1',
      parentExecutionId: parent,
      trigger: { source: 'rollout', error: 'GateFailedError', cause: 'fail' },
      AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: parent,
    });
    expect(r).toMatchObject({ rolloutId: 'rollout-1', lock: { owner: parent, inherited: true } });
  });

  it('from the alarm router: its input shape, with the change to undo as changeId', async () => {
    const r = await disable({
      reason: 'Alarm switchback-prod-s003-error-rate: API error rate > 0.1 % for 5 min',
      requestedBy: 'switchback-rollback-router',
      changeId: 'rollout-7',
      parentExecutionId: 'arn:aws:states:x:1:execution:router:i-1',
      trigger: { source: 'alarm', error: 'switchback-prod-s003-error-rate', cause: 'Threshold Crossed' },
    });
    expect(r).toMatchObject({
      rolloutId: 'rollout-7',
      trigger: { source: 'alarm' },
      lock: { inherited: true },
    });
  });

  it('from an EventBridge alarm event passed straight through', async () => {
    const r = await disable({
      version: '0',
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      resources: ['arn:aws:cloudwatch:eu-west-1:123456789012:alarm:switchback-prod-s003-error-rate'],
      detail: {
        alarmName: 'switchback-prod-s003-error-rate',
        state: { value: 'ALARM', reason: 'Threshold Crossed' },
      },
    });
    expect(r).toMatchObject({
      reason: 'Alarm switchback-prod-s003-error-rate is ALARM',
      requestedBy: 'alarm',
      trigger: { source: 'alarm', alarmName: 'switchback-prod-s003-error-rate', cause: 'Threshold Crossed' },
      lock: { inherited: false },
    });
  });

  it.each([
    ['a budget over a minute', { reason: 'x y z', budgetSeconds: 61 }, /budgetSeconds: Too big/],
    ['a typo', { reason: 'x y z', emergancy: true }, /Unrecognized key: "emergancy"/],
    [
      'two different rollouts',
      { reason: 'x y z', rolloutId: 'a', changeId: 'b' },
      /changeId: changeId and rolloutId name different rollouts/,
    ],
  ])('refuses %s with InvalidInputError', async (_n, input, message) => {
    await expect(disable(input)).rejects.toThrow(message);
    await expect(disable(input)).rejects.toThrow(InvalidInputError);
  });
});
