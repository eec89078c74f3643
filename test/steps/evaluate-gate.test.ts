import { beforeEach, describe, expect, it } from 'vitest';
import { evaluateGate } from '../../functions/evaluate-gate/evaluate-gate';
import { judge, nextConsecutive } from '../../functions/evaluate-gate/gate';
import { readLog, writeLog } from '../../functions/rollout/log';
import { rollout } from '../../functions/rollout/rollout';
import { ConfigurationError } from '../../functions/shared/errors';
import type { GateSample } from '../../functions/shared/ports';
import { GatePolicy, seedPhases } from '../../functions/shared/rollout-plan';
import { invokeStep } from '../../functions/shared/step';
import { HEALTHY_SAMPLE, ScriptedMetricsSource } from '../../local/adapters/scripted-metrics';
import { type FakeDeps, fakeDeps } from '../support/fakes';

const GATE = GatePolicy.parse({});
const sample = (s: Partial<GateSample>) => ({
  sample: { ...HEALTHY_SAMPLE, ...s },
  alarmsInAlarm: [],
  unavailable: null,
});
const status = (r: ReturnType<typeof judge>, signal: string) =>
  r.signals.find((s) => s.signal === signal)?.status;

describe('judge (seed 003 success criteria)', () => {
  it('passes a healthy window, every limit strict', () => {
    const r = judge(sample({}), GATE);
    expect(r.verdict).toBe('pass');
    expect(r.signals.map((s) => [s.signal, s.status])).toEqual([
      ['requests', 'not-judged'],
      ['errorRatePercent', 'pass'],
      ['p95LatencyMs', 'pass'],
      ['memoryMb', 'pass'],
      ['cpuPercent', 'pass'],
      ['p0Alarms', 'pass'],
    ]);
  });

  it.each([
    ['error rate at 0.1 % (limit is < 0.1 %)', { requests: 1000, errors: 1 }, 'errorRatePercent'],
    ['p95 at 500 ms', { p95LatencyMs: 500 }, 'p95LatencyMs'],
    ['memory at 512 MB', { memoryMb: 512 }, 'memoryMb'],
    ['CPU at 80 %', { cpuPercent: 80 }, 'cpuPercent'],
  ])('fails %s', (_n, s, signal) => {
    const r = judge(sample(s), GATE);
    expect(r.verdict).toBe('fail');
    expect(r.signals.filter((x) => x.status === 'fail').map((x) => x.signal)).toEqual([signal]);
  });

  it('does not judge rates below the minimum request count; no request data counts as no traffic', () => {
    const r = judge(sample({ requests: 99, errors: 99, p95LatencyMs: 9000 }), GATE);
    expect(r.verdict).toBe('pass');
    expect(status(r, 'errorRatePercent')).toBe('not-judged');
    expect(status(r, 'p95LatencyMs')).toBe('not-judged');
    const none = judge(sample({ requests: null, errors: null, p95LatencyMs: null }), GATE);
    expect(none.signals[0]).toMatchObject({ signal: 'requests', value: 0 });
    expect(status(none, 'errorRatePercent')).toBe('not-judged');
    // No error data with enough traffic: zero errors (a counter that publishes nothing).
    expect(status(judge(sample({ errors: null }), GATE), 'errorRatePercent')).toBe('pass');
  });

  it.each([
    ['breaching', 'fail', 'fail'],
    ['notBreaching', 'pass', 'pass'],
    ['ignore', 'not-judged', 'not-judged'],
  ] as const)(
    'missing gauges and unavailable metrics follow missingData=%s',
    (missingData, signal, whenAllMissing) => {
      const gate = GatePolicy.parse({ missingData });
      expect(status(judge(sample({ cpuPercent: null }), gate), 'cpuPercent')).toBe(signal);
      expect(status(judge(sample({ p95LatencyMs: null }), gate), 'p95LatencyMs')).toBe(signal);
      const down = judge({ sample: null, alarmsInAlarm: null, unavailable: 'CloudWatch throttled' }, gate);
      expect(down.verdict).toBe(whenAllMissing);
      expect(down.signals.every((s) => s.status === signal)).toBe(true);
      expect(down.signals[0]?.note).toContain('metrics unavailable (CloudWatch throttled)');
    },
  );

  it('a P0 alarm in ALARM fails at once; it can be turned off', () => {
    const r = judge({ ...sample({}), alarmsInAlarm: ['switchback-prod-s001-api-down'] }, GATE);
    expect(r).toMatchObject({ verdict: 'fail', p0: true });
    const off = judge({ ...sample({}), alarmsInAlarm: ['x'] }, GatePolicy.parse({ failOnP0Alarm: false }));
    expect(off).toMatchObject({ verdict: 'pass', p0: false });
  });

  it('consecutive failures: a pass resets, an unjudged window leaves the count', () => {
    expect([
      nextConsecutive(2, 'fail'),
      nextConsecutive(2, 'pass'),
      nextConsecutive(2, 'not-judged'),
    ]).toEqual([3, 0, 2]);
  });
});

describe('evaluate-gate step', () => {
  let deps: FakeDeps & { metricsSource: ScriptedMetricsSource };
  const id = 'r1';
  const phases = seedPhases({
    internalProjects: ['internal-test'],
    canaryPercentage: 10,
    bakeSeconds: {},
    skip: [],
  }).map((p, index) => ({ ...p, index, evaluations: 3 }));
  const input = (
    state: { evaluation: number; consecutiveFailures: number },
    extra: Record<string, unknown> = {},
  ) => ({
    rolloutId: id,
    dryRun: false,
    phase: { index: 2, name: 'canary', evaluations: 3 },
    gate: { ...GATE, tolerance: 2 },
    state,
    flagVersion: 1,
    ...extra,
  });

  beforeEach(async () => {
    deps = { ...fakeDeps(), metricsSource: new ScriptedMetricsSource() };
    await invokeStep(
      rollout,
      {
        action: 'open',
        rolloutId: id,
        executionId: 'arn:x',
        reason: 'r',
        requestedBy: 't',
        dryRun: false,
        phases,
        gate: GATE,
        approval: { required: false, timeoutSeconds: 60 },
      },
      deps,
    );
  });

  it('decides continue, then roll-back at the tolerance, logging each evaluation and the decision', async () => {
    deps.metricsSource.set({ errors: 600 });
    const first = await invokeStep(evaluateGate, input({ evaluation: 0, consecutiveFailures: 0 }), deps);
    expect(first).toMatchObject({
      evaluation: 1,
      consecutiveFailures: 1,
      verdict: 'fail',
      decision: 'continue',
      phaseComplete: false,
    });
    const second = await invokeStep(evaluateGate, input({ evaluation: 1, consecutiveFailures: 1 }), deps);
    expect(second).toMatchObject({
      evaluation: 2,
      consecutiveFailures: 2,
      decision: 'roll-back',
      phaseComplete: false,
    });
    expect(second.summary).toBe('fail, 2/2 failed in a row: errorRatePercent 10 (limit 0.1): not below 0.1');
    const log = await readLog(deps.blobs, 'test', id);
    expect(log?.evaluations.map((e) => e.decision)).toEqual(['continue', 'roll-back']);
    expect(log?.phases[2]?.gate).toEqual({ evaluated: 2, failed: 2, notJudged: 0 });
    expect(log?.events.at(-1)?.message).toMatch(/^Gate failed at evaluation 2: /);
    // The window is the interval just baked.
    const window = deps.metricsSource.windows[0]!;
    expect(window.end.getTime() - window.start.getTime()).toBe(300_000);
  });

  it('completes the phase on its last evaluation; a retried call answers what it logged', async () => {
    const last = await invokeStep(evaluateGate, input({ evaluation: 2, consecutiveFailures: 0 }), deps);
    expect(last).toMatchObject({ evaluation: 3, decision: 'phase-complete', phaseComplete: true });
    deps.metricsSource.set({ errors: 6000 });
    const retried = await invokeStep(evaluateGate, input({ evaluation: 2, consecutiveFailures: 0 }), deps);
    expect(retried).toMatchObject({ evaluation: 3, decision: 'phase-complete', verdict: 'pass' });
    expect((await readLog(deps.blobs, 'test', id))?.evaluations).toHaveLength(1);
  });

  it('dry run: would-roll-back is logged, the count restarts, and the flag is not read', async () => {
    deps.metricsSource.set({ errors: 600 });
    await deps.flags.put('features/memory-context', '{"enabled":true,"percentage":1,"allowList":[]}');
    const r = await invokeStep(
      evaluateGate,
      input({ evaluation: 0, consecutiveFailures: 1 }, { dryRun: true }),
      deps,
    );
    expect(r).toMatchObject({ decision: 'would-roll-back', consecutiveFailures: 0 });
    expect((await readLog(deps.blobs, 'test', id))?.events.at(-1)?.message).toMatch(
      /^Dry run: the gate would have rolled back at evaluation 1/,
    );
  });

  it('interrupted when the flag is no longer the version the phase wrote (an emergency disable)', async () => {
    await deps.flags.put('features/memory-context', '{"enabled":false,"percentage":0,"allowList":[]}');
    const r = await invokeStep(evaluateGate, input({ evaluation: 0, consecutiveFailures: 0 }), deps);
    expect(r).toMatchObject({ decision: 'interrupted', phaseComplete: false });
    expect(r.summary).toMatch(/at version 2, not the phase's 1: changed outside the rollout/);
    expect(deps.metricsSource.windows).toHaveLength(0);
  });

  it('metrics source down: the missing-data policy decides, the step does not fail', async () => {
    deps.metricsSource.queue('unavailable');
    const r = await invokeStep(evaluateGate, input({ evaluation: 0, consecutiveFailures: 0 }), deps);
    expect(r).toMatchObject({ verdict: 'fail', consecutiveFailures: 1, decision: 'continue' });
  });

  it('refuses to run without a metrics source, and on a missing rollout log', async () => {
    const { metricsSource: _m, ...without } = deps;
    await expect(
      invokeStep(evaluateGate, input({ evaluation: 0, consecutiveFailures: 0 }), without),
    ).rejects.toThrow(ConfigurationError);
    await expect(
      invokeStep(evaluateGate, input({ evaluation: 0, consecutiveFailures: 0 }, { rolloutId: 'nope' }), deps),
    ).rejects.toMatchObject({ name: 'RolloutLogNotFoundError' });
  });

  it('refuses a corrupt rollout log instead of guessing', async () => {
    const log = await readLog(deps.blobs, 'test', id);
    await writeLog(deps.blobs, log!);
    deps.blobs.putText(`rollouts/test/${id}.json`, '{"schemaVersion":2}');
    await expect(
      invokeStep(evaluateGate, input({ evaluation: 0, consecutiveFailures: 0 }), deps),
    ).rejects.toMatchObject({
      name: 'RolloutLogInvalidError',
    });
  });
});
