import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readLog, rolloutMarkdownKey } from '../../functions/rollout/log';
import {
  MEMORY_CONTEXT_FLAG,
  MEMORY_CONTEXT_OFF,
  type MemoryContextFlag,
  probeProjects,
  serializeMemoryContextFlag,
} from '../../functions/shared/memory-context';
import { HEALTHY_SAMPLE, ScriptedMetricsSource } from '../../local/adapters/scripted-metrics';
import type { ExecutionRecord, Hook } from '../../local/engine';
import type { World } from '../../local/world';
import { pathOf, startWorld } from '../support/world';

/**
 * Seed 003's phased rollout and emergency disable, run from the ASL files against the reference
 * API (which reads the flag per request), with a scripted metrics source and second-long bakes
 * (each Wait is 40 ms here). Every case asserts the path taken and what the app really serves,
 * the flag's history, the rollout log, the lock and the notifications.
 */
const metrics = new ScriptedMetricsSource();
/** Hooks the current case installs (the world's hooks delegate here). */
let hooks: Record<string, Hook> = {};
let world: World & { dispose(): Promise<void> };
const ON_100: MemoryContextFlag = { enabled: true, percentage: 100, allowList: ['internal-test'] };

beforeAll(async () => {
  world = await startWorld({
    metricsSource: metrics,
    featureFlagCacheMs: 50,
    hooks: {
      'feature-rollout:StartPhase': (ctx) => hooks['feature-rollout:StartPhase']?.(ctx),
      'feature-rollout:EvaluateGate': (ctx) => hooks['feature-rollout:EvaluateGate']?.(ctx),
      'feature-disable:DisableFlag': (ctx) => hooks['feature-disable:DisableFlag']?.(ctx),
    },
  });
});
afterAll(async () => {
  await world?.dispose();
});
beforeEach(async () => {
  hooks = {};
  metrics.current = { ...HEALTHY_SAMPLE };
  metrics.alarms = [];
  await world.parameters.put(MEMORY_CONTEXT_FLAG, serializeMemoryContextFlag(MEMORY_CONTEXT_OFF));
});

/** Seed 003's plan with bakes of 1 s (3 s for the canary, to reach the tolerance), the gate every second. */
const PLAN = {
  reason: 'roll out memory and context',
  requestedBy: 'test',
  bakeSeconds: { infrastructure: 1, internal: 1, canary: 3, full: 1 },
  gate: { intervalSeconds: 1 },
  checkWithinSeconds: 10,
};

let n = 0;
async function rollout(input: Record<string, unknown> = {}): Promise<ExecutionRecord> {
  return world.engine.run('feature-rollout', { ...PLAN, ...input }, { name: `rollout-${++n}` });
}

/** Counts the starts of phases: `onPhase(3, fn)` runs fn when phase 3 starts. */
function onPhase(phase: number, fn: () => void): Hook {
  let started = 0;
  return () => {
    started += 1;
    if (started === phase) fn();
  };
}

async function api(path: string, json?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${world.config.endpoints.api}${path}`, {
    method: json === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** What the app serves once its flag cache has expired. */
async function served() {
  await new Promise((r) => setTimeout(r, 80));
  const config = (await api('/api/v1/config')).body as {
    memory_context_enabled: boolean;
    memory_context: { percentage: number | null; flag_version: number | null; flag_error: string | null };
  };
  const item = await api('/api/v1/memory-items', {
    project_id: 'internal-test',
    type: 'decision',
    content: 'served check',
  });
  return { enabled: config.memory_context_enabled, ...config.memory_context, internalCreate: item.status };
}

const flag = async () => world.parameters.get(MEMORY_CONTEXT_FLAG);
const historyValues = () => world.parameters.history(MEMORY_CONTEXT_FLAG).map((h) => h.value);
const logOf = async (run: ExecutionRecord) => {
  const log = await readLog(world.blobs, world.config.environment, run.name);
  if (!log) throw new Error(`no rollout log for ${run.name}`);
  return log;
};
const notices = (run: ExecutionRecord) =>
  world.engine.notifications.filter((x) => x.executionArn === run.arn).map((x) => x.attributes.outcome);
const childOf = (run: ExecutionRecord) => world.engine.executions.find((e) => e.parentArn === run.arn);

describe('feature-rollout', () => {
  it('clean rollout: off, internal users, 10 %, 100 %, each phase checked against the app, logged', async () => {
    const before = await flag();
    const run = await rollout();

    expect(run.status).toBe('SUCCEEDED');
    const phase = ['StartPhase', 'CheckPhase', 'Bake', 'EvaluateGate'];
    expect(pathOf(run)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'OpenLog',
      ...phase,
      'CompletePhase',
      ...phase,
      'CompletePhase',
      ...phase,
      'Bake',
      'EvaluateGate',
      'Bake',
      'EvaluateGate',
      'CompletePhase',
      ...phase,
      'CompletePhase',
      'CloseCompleted',
      'ReleaseLock',
      'Notify',
      'PublishNotice',
      'RolloutSucceeded',
    ]);
    // The flag went through the phases, one version each (phase 1 found it off already).
    const history = world.parameters.history(MEMORY_CONTEXT_FLAG);
    expect(history.at(-4)?.version).toBe(before.version);
    expect(
      historyValues()
        .slice(-4)
        .map((v) => JSON.parse(v ?? 'null')),
    ).toEqual([
      { enabled: false, percentage: 0, allowList: [] },
      { enabled: true, percentage: 0, allowList: ['internal-test'] },
      { enabled: true, percentage: 10, allowList: ['internal-test'] },
      { enabled: true, percentage: 100, allowList: ['internal-test'] },
    ]);
    // Every phase's checks, as the step ran them against the app.
    type CheckOutput = { check: { checks: { what: string; status: number }[] } };
    const checks = run.events.flatMap((e) =>
      e.type === 'StateExited' && 'state' in e && e.state.name === 'CheckPhase'
        ? [((e.state as { output?: unknown }).output as CheckOutput).check.checks]
        : [],
    );
    expect(checks).toHaveLength(4);
    expect(checks[0]?.map((c) => c.status)).toEqual([404, 404]);
    expect(checks[1]?.map((c) => c.what)).toEqual([
      'create a memory item for allow-listed internal-test',
      'list memory items of internal-test',
      'preview a context pack for internal-test',
      `list for ${probeProjects({ enabled: true, percentage: 0, allowList: ['internal-test'] }).outside} (outside 0 %)`,
    ]);
    expect(checks[1]?.map((c) => c.status)).toEqual([201, 200, 200, 403]);
    expect(checks[2]?.map((c) => c.status)).toEqual([201, 200, 200, 200, 403]);
    expect(checks[3]?.map((c) => c.status)).toEqual([201, 200, 200, 200]);
    // The app serves the feature to everyone now.
    const now = await served();
    expect(now).toMatchObject({ enabled: true, percentage: 100, flag_error: null, internalCreate: 201 });
    expect((await api('/api/v1/memory-items?project_id=any-customer')).status).toBe(200);
    // The rollout log: seed 003's table, every transition and evaluation.
    const log = await logOf(run);
    expect(log.status).toBe('completed');
    expect(log.phases.map((p) => [p.name, p.status, p.gate.evaluated, p.gate.failed])).toEqual([
      ['infrastructure', 'passed', 1, 0],
      ['internal', 'passed', 1, 0],
      ['canary', 'passed', 3, 0],
      ['full', 'passed', 1, 0],
    ]);
    expect(log.evaluations).toHaveLength(6);
    expect(log.evaluations.every((e) => e.verdict === 'pass')).toBe(true);
    expect(log.events.map((e) => e.type)).toEqual([
      'opened',
      ...['phase-started', 'phase-passed'],
      ...['phase-started', 'phase-passed'],
      ...['phase-started', 'phase-passed'],
      ...['phase-started', 'phase-passed'],
      'closed',
    ]);
    const md = new TextDecoder().decode(
      await world.blobs.get(rolloutMarkdownKey(world.config.environment, run.name)),
    );
    expect(md).toContain('| Phase | Planned Date | Actual Date | Status | Notes |');
    expect(md).toContain('| Phase 3: 10% Traffic |');
    expect(md).toMatch(/\| Phase 4: 100% Rollout \| \S+ \| \S+ \| Passed \|/);
    expect(await world.lock()).toBeUndefined();
    expect(notices(run)).toEqual(['rollout-completed']);
  });

  it('the kill switch during phase 2: the rollout does not advance to phase 3, nothing rolled back, flag left', async () => {
    // Paused while phase 2 (internal users) bakes: its gate still runs, the next phase never starts.
    hooks['feature-rollout:EvaluateGate'] = onPhase(2, () => {
      world.parameters.put('automation/paused', 'true');
    });
    const written = world.parameters.history(MEMORY_CONTEXT_FLAG).length;
    let run: ExecutionRecord;
    try {
      run = await rollout();
    } finally {
      world.parameters.put('automation/paused', 'false');
    }

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('AutomationPausedError');
    expect(run.cause).toMatch(
      /^Rollout rollout-\d+ in \S+ stopped before its next phase: automation\/paused is true/,
    );
    expect(pathOf(run).slice(-7)).toEqual([
      'CompletePhase',
      'StartPhase',
      'ClosePaused',
      'ReleaseLockPaused',
      'Notify',
      'PublishNotice',
      'RolloutPaused',
    ]);
    // The flag stays at phase 2's value, its one write in this run; phase 3's 10 % was never written.
    const internal = { enabled: true, percentage: 0, allowList: ['internal-test'] };
    expect(JSON.parse((await flag()).value)).toEqual(internal);
    expect(
      historyValues()
        .slice(written)
        .map((v) => JSON.parse(v ?? 'null')),
    ).toEqual([internal]);
    expect(childOf(run)).toBeUndefined();
    expect(await world.lock()).toBeUndefined();
    const log = await logOf(run);
    expect(log.status).toBe('interrupted');
    expect(log.phases.map((p) => [p.name, p.status])).toEqual([
      ['infrastructure', 'passed'],
      ['internal', 'passed'],
      ['canary', 'pending'],
      ['full', 'pending'],
    ]);
    expect(notices(run)).toEqual(['rollout-paused']);
    const sent = world.engine.notifications.find((x) => x.executionArn === run.arn);
    expect(sent?.subject).toMatch(
      /^Switchback \S+: feature rollout stopped by the kill switch, flag left as it is$/,
    );
    expect(sent?.message).toContain(
      'The rollout stopped advancing; the flag stays at the value its last passed phase set',
    );
  });

  it('error rate rising in phase 3: rolled back to off after 3 failed evaluations, verified, logged', async () => {
    hooks['feature-rollout:StartPhase'] = onPhase(3, () => metrics.set({ errors: 60 })); // 1 % of 6000
    const run = await rollout();

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RolloutRolledBackError');
    expect(run.cause).toMatch(
      /GateFailedError: fail, 3\/3 failed in a row: errorRatePercent 1 \(limit 0.1\)/,
    );
    expect(pathOf(run).slice(-14)).toEqual([
      'CheckPhase',
      'Bake',
      'EvaluateGate',
      'Bake',
      'EvaluateGate',
      'Bake',
      'EvaluateGate',
      'RollBack',
      'StartRollback',
      'CloseRolledBack',
      'ReleaseLockAfterRollback',
      'Notify',
      'PublishNotice',
      'RolloutRolledBack',
    ]);
    const disable = childOf(run);
    expect(disable?.status).toBe('SUCCEEDED');
    expect(pathOf(disable!)).toEqual([
      'ValidateInput',
      'DisableFlag',
      'VerifyOff',
      'RecordInRolloutLog',
      'Disabled',
    ]);
    expect(JSON.parse((await flag()).value)).toEqual(MEMORY_CONTEXT_OFF);
    const now = await served();
    expect(now).toMatchObject({ enabled: false, internalCreate: 404 });
    const log = await logOf(run);
    expect(log.status).toBe('rolled-back');
    expect(log.phases.map((p) => p.status)).toEqual(['passed', 'passed', 'rolled-back', 'pending']);
    expect(
      log.evaluations
        .filter((e) => e.phase === 'canary')
        .map((e) => [e.verdict, e.consecutiveFailures, e.decision]),
    ).toEqual([
      ['fail', 1, 'continue'],
      ['fail', 2, 'continue'],
      ['fail', 3, 'roll-back'],
    ]);
    const decisions = log.events
      .filter((e) => e.type === 'decision' || e.type === 'disabled')
      .map((e) => e.message);
    expect(decisions[0]).toMatch(/^Gate failed at evaluation 3: .*Rolling back: emergency disable\.$/);
    expect(log.events.filter((e) => e.type === 'disabled')).toHaveLength(1);
    expect(decisions[1]).toMatch(
      /^Feature disabled: flag off at version \d+ \(was on\), the app served it off \d+ ms after/,
    );
    expect(await world.lock()).toBeUndefined();
    // One notification for the incident: the inherited disable stays quiet.
    expect(notices(run)).toEqual(['rolled-back']);
    expect(notices(disable!)).toEqual([]);
  });

  it('a single noisy evaluation below the tolerance does not roll back', async () => {
    hooks['feature-rollout:StartPhase'] = onPhase(3, () => metrics.queue({ errors: 600, p95LatencyMs: 900 }));
    const run = await rollout();

    expect(run.status).toBe('SUCCEEDED');
    expect(childOf(run)).toBeUndefined();
    const canary = (await logOf(run)).evaluations.filter((e) => e.phase === 'canary');
    expect(canary.map((e) => [e.verdict, e.consecutiveFailures, e.decision])).toEqual([
      ['fail', 1, 'continue'],
      ['pass', 0, 'continue'],
      ['pass', 0, 'phase-complete'],
    ]);
    expect(canary[0]?.signals.filter((s) => s.status === 'fail').map((s) => s.signal)).toEqual([
      'errorRatePercent',
      'p95LatencyMs',
    ]);
    expect(JSON.parse((await flag()).value)).toEqual(ON_100);
  });

  it('no traffic: rates below the minimum request count are not judged, and do not fail the gate', async () => {
    // Every request fails, but there are only 5 of them (minimum 100): not a failure.
    metrics.set({ requests: 5, errors: 5, p95LatencyMs: 4000 });
    const run = await rollout({ skipPhases: ['canary'] });

    expect(run.status).toBe('SUCCEEDED');
    const log = await logOf(run);
    expect(log.evaluations).toHaveLength(3);
    for (const e of log.evaluations) {
      expect(e.verdict).toBe('pass');
      expect(e.signals.find((s) => s.signal === 'errorRatePercent')).toMatchObject({
        status: 'not-judged',
        note: 'too little traffic',
      });
      expect(e.signals.find((s) => s.signal === 'requests')?.note).toBe(
        'below the minimum of 100: rates not judged',
      );
    }
    expect(JSON.parse((await flag()).value)).toEqual(ON_100);
  });

  it.each([
    ['breaching', 'FAILED', 'fail'],
    ['notBreaching', 'SUCCEEDED', 'pass'],
    ['ignore', 'SUCCEEDED', 'not-judged'],
  ] as const)('missing memory data treated as %s', async (missingData, status, memoryStatus) => {
    metrics.set({ memoryMb: null });
    const run = await rollout({
      skipPhases: ['internal', 'canary'],
      bakeSeconds: { infrastructure: 3, full: 1 },
      gate: { intervalSeconds: 1, missingData },
    });

    expect(run.status).toBe(status);
    const log = await logOf(run);
    const memory = log.evaluations.map((e) => e.signals.find((s) => s.signal === 'memoryMb'));
    expect(memory.every((m) => m?.status === memoryStatus)).toBe(true);
    if (missingData === 'breaching') {
      expect(run.error).toBe('RolloutRolledBackError');
      expect(log.evaluations.map((e) => e.consecutiveFailures)).toEqual([1, 2, 3]);
      expect(memory[0]?.note).toBe('no memory data; missing data is breaching');
      expect(JSON.parse((await flag()).value)).toEqual(MEMORY_CONTEXT_OFF);
    } else {
      expect(log.evaluations.map((e) => e.verdict)).toEqual(['pass', 'pass', 'pass', 'pass']);
      expect(JSON.parse((await flag()).value)).toEqual(ON_100);
    }
  });

  it('a P0 alarm in ALARM rolls back at the next evaluation, whatever the tolerance', async () => {
    hooks['feature-rollout:StartPhase'] = onPhase(2, () => {
      metrics.alarms = ['switchback-rehearsal-s001-api-down'];
    });
    const run = await rollout({ gate: { intervalSeconds: 1, tolerance: 10 } });

    expect(run.error).toBe('RolloutRolledBackError');
    expect(run.cause).toMatch(
      /P0 alarm firing: p0Alarms 1 \(limit 0\): in ALARM: switchback-rehearsal-s001-api-down/,
    );
    const log = await logOf(run);
    expect(log.evaluations.filter((e) => e.phase === 'internal').map((e) => e.decision)).toEqual([
      'roll-back',
    ]);
    expect(log.evaluations.at(-1)?.alarmsInAlarm).toEqual(['switchback-rehearsal-s001-api-down']);
    expect((await served()).enabled).toBe(false);
  });

  it('approval: approved between phases 1 and 2; no answer before phase 3 times out and rolls back', async () => {
    const started = world.engine.start(
      'feature-rollout',
      { ...PLAN, approval: { required: true, timeoutSeconds: 1 } },
      { name: `rollout-${++n}` },
    );
    // Wait for the first approval request and answer it as `switchback approve` would.
    let pending = world.engine.pendingTasks();
    for (let i = 0; i < 400 && pending.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      pending = world.engine.pendingTasks();
    }
    expect(pending.map((p) => [p.executionArn, p.state])).toEqual([[started.arn, 'AwaitApproval']]);
    expect(JSON.parse((await flag()).value)).toEqual(MEMORY_CONTEXT_OFF);
    world.engine.sendTaskSuccess(pending[0]!.token, { approvedBy: 'alice', comment: 'phase 1 looks fine' });
    const run = await started.done;

    expect(run.error).toBe('RolloutRolledBackError');
    expect(run.cause).toMatch(/States.Timeout/);
    expect(pathOf(run).filter((s) => /Approval|StartPhase|RollBack/.test(s))).toEqual([
      'StartPhase',
      'NotifyApprovalNeeded',
      'PublishApprovalNeededNotice',
      'AwaitApproval',
      'StartPhase',
      'NotifyApprovalNeeded',
      'PublishApprovalNeededNotice',
      'AwaitApproval',
      'RollBack',
    ]);
    // The token of the timed-out wait is dead, as on AWS.
    expect(() => world.engine.sendTaskSuccess(pending[0]!.token, {})).toThrow(/Task Timed Out/);
    expect(JSON.parse((await flag()).value)).toEqual(MEMORY_CONTEXT_OFF);
    expect((await served()).enabled).toBe(false);
    const log = await logOf(run);
    expect(log.events.filter((e) => e.type.startsWith('approval')).map((e) => [e.type, e.phase])).toEqual([
      ['approval-requested', 'internal'],
      ['approval-granted', 'internal'],
      ['approval-requested', 'canary'],
    ]);
    expect(log.events.find((e) => e.type === 'approval-granted')?.message).toBe(
      'Approved by alice: phase 1 looks fine',
    );
    // Phase 2 had passed: the rollout stopped between phases, before phase 3 began.
    expect(log.phases.map((p) => p.status)).toEqual(['passed', 'passed', 'pending', 'pending']);
    expect(notices(run)).toEqual(['approval-needed', 'approval-needed', 'rolled-back']);
    expect(await world.lock()).toBeUndefined();
  });

  it('approval rejected: the rollout rolls back at once', async () => {
    const started = world.engine.start(
      'feature-rollout',
      { ...PLAN, approval: { required: true, timeoutSeconds: 30 } },
      { name: `rollout-${++n}` },
    );
    let pending = world.engine.pendingTasks();
    for (let i = 0; i < 400 && pending.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      pending = world.engine.pendingTasks();
    }
    world.engine.sendTaskFailure(pending[0]!.token, 'ApprovalRejectedError', 'Rejected by bob: not today');
    const run = await started.done;

    expect(run.error).toBe('RolloutRolledBackError');
    expect(run.cause).toContain('ApprovalRejectedError: Rejected by bob: not today');
    expect(childOf(run)?.status).toBe('SUCCEEDED');
    expect((await logOf(run)).status).toBe('rolled-back');
  });

  it('dry run: gates evaluated and logged with what they would have decided; flag untouched, no lock', async () => {
    hooks['feature-rollout:StartPhase'] = onPhase(3, () => metrics.set({ errors: 60 }));
    const before = await flag();
    const run = await rollout({ dryRun: true });

    expect(run.status).toBe('SUCCEEDED');
    expect(run.output).toMatchObject({ outcome: 'dry-run-completed', dryRun: true });
    expect(pathOf(run)).not.toContain('AcquireLock');
    expect(pathOf(run)).not.toContain('CheckPhase');
    expect(pathOf(run)).not.toContain('RollBack');
    expect(await flag()).toEqual(before);
    expect(world.parameters.history(MEMORY_CONTEXT_FLAG).at(-1)?.version).toBe(before.version);
    expect(childOf(run)).toBeUndefined();
    const log = await logOf(run);
    expect(log.dryRun).toBe(true);
    expect(log.phases.every((p) => p.status === 'passed' && p.flagVersion === null)).toBe(true);
    expect(log.events.filter((e) => e.type === 'phase-started').map((e) => e.message)[1]).toBe(
      'Dry run: would set the flag to {"enabled":true,"percentage":0,"allowList":["internal-test"]}; nothing written',
    );
    expect(log.evaluations.filter((e) => e.phase === 'canary').map((e) => e.decision)).toEqual([
      'continue',
      'continue',
      'would-roll-back',
    ]);
    // It carried on: the last phase was evaluated too.
    expect(log.evaluations.at(-1)).toMatchObject({ phase: 'full', decision: 'phase-complete' });
    expect(
      log.events.some((e) =>
        e.message.startsWith('Dry run: the gate would have rolled back at evaluation 3'),
      ),
    ).toBe(true);
    expect((await served()).enabled).toBe(false);
    expect(notices(run)).toEqual(['dry-run-completed']);
  });

  it('a malformed flag value in SSM is refused with a clear error, never read as "on"', async () => {
    const bad = '{"enabled":"yes","percentage":100}';
    world.parameters.putParameter(`${world.config.flagPrefix}/${MEMORY_CONTEXT_FLAG}`, bad, 'String');
    const before = await flag();
    const run = await rollout();

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RolloutRefusedError');
    expect(run.cause).toContain(
      'InvalidFlagValueError: Flag "features/memory-context" has an invalid value: enabled: Invalid input: expected boolean, received string; allowList: Invalid input: expected array, received undefined',
    );
    expect(pathOf(run)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'OpenLog',
      'ReleaseLockRefused',
      'Notify',
      'PublishNotice',
      'RolloutRefused',
    ]);
    expect(await flag()).toEqual(before);
    expect(await readLog(world.blobs, world.config.environment, run.name)).toBeUndefined();
    // The app refuses the feature (503) and says why, rather than treating the value as "on"
    // (once its short flag cache has expired: the API reads the flag per request, cached 50 ms).
    type Served = { memory_context_enabled: boolean; memory_context: { flag_error: string | null } };
    let config = (await api('/api/v1/config')).body as Served;
    for (let i = 0; i < 40 && typeof config.memory_context.flag_error !== 'string'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      config = (await api('/api/v1/config')).body as Served;
    }
    expect(config.memory_context_enabled).toBe(false);
    expect(config.memory_context.flag_error).toMatch(/^Flag "features\/memory-context" has an invalid value/);
    expect((await api('/api/v1/memory-items?project_id=internal-test')).status).toBe(503);
    expect(await world.lock()).toBeUndefined();
    expect(notices(run)).toEqual(['rollout-refused']);

    // The emergency disable overwrites it with "off", whatever it held.
    const disable = await world.engine.run('feature-disable', { reason: 'repair the flag' });
    expect(disable.status).toBe('SUCCEEDED');
    expect(disable.output).toMatchObject({ previous: 'invalid' });
    expect((await served()).flag_error).toBeNull();
  });

  it.each([
    [
      'phases together with a shortcut',
      { phases: [{ name: 'all', title: 'All', flag: ON_100, bakeSeconds: 1 }], canaryPercentage: 5 },
      /phases: give either phases or canaryPercentage/,
    ],
    ['an unknown field', { dryrun: true }, /Unrecognized key: "dryrun"/],
    [
      'a plan longer than one execution can hold',
      { bakeSeconds: { infrastructure: 1, internal: 1, canary: 1, full: 3000 } },
      /needs 3003 gate evaluations/,
    ],
    ['a canary of 100 %', { canaryPercentage: 100 }, /canaryPercentage: Too big/],
  ])('malformed input (%s) is refused before any side effect', async (_name, input, message) => {
    const before = await flag();
    const run = await rollout(input);
    expect(run.error).toBe('InvalidInputError');
    expect(run.cause).toMatch(message);
    expect(pathOf(run)).toEqual(['ValidateInput', 'InputRejected']);
    expect(await flag()).toEqual(before);
    expect(await world.lock()).toBeUndefined();
  });
});

describe('feature-disable', () => {
  it('emergency disable: flag off for everyone, verified from /api/v1/config within its budget', async () => {
    await world.parameters.put(MEMORY_CONTEXT_FLAG, serializeMemoryContextFlag(ON_100));
    expect((await served()).internalCreate).toBe(201);
    const run = await world.engine.run('feature-disable', {
      reason: 'context packs leak between projects',
      requestedBy: 'oncall',
      budgetSeconds: 60,
    });

    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'DisableFlag',
      'VerifyOff',
      'ReleaseLock',
      'Notify',
      'PublishNotice',
      'Disabled',
    ]);
    const notice = run.output as {
      servedOffAfterMs: number;
      budgetSeconds: number;
      previous: string;
      lock: unknown;
    };
    expect(notice).toMatchObject({ previous: 'on', budgetSeconds: 60, lock: { taken: true } });
    // VerifyOff only succeeds inside the budget: the procedure itself enforces "off within a minute".
    expect(notice.servedOffAfterMs).toBeGreaterThanOrEqual(0);
    expect(JSON.parse((await flag()).value)).toEqual(MEMORY_CONTEXT_OFF);
    const now = await served();
    expect(now).toMatchObject({ enabled: false, internalCreate: 404 });
    expect(await world.lock()).toBeUndefined();
    expect(notices(run)).toEqual(['feature-disabled']);

    // A second disable changes nothing and still verifies.
    const again = await world.engine.run('feature-disable', { reason: 'make sure' });
    expect(again.status).toBe('SUCCEEDED');
    expect(world.parameters.history(MEMORY_CONTEXT_FLAG).at(-1)?.version).toBe((await flag()).version);
  });

  it('started by an alarm (the EventBridge event as the router passes it), while a rollout holds the lock', async () => {
    const alarmEvent = {
      version: '0',
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      detail: {
        alarmName: 'switchback-rehearsal-s003-error-rate',
        state: { value: 'ALARM', reason: 'Threshold Crossed: 5 datapoints were greater than 0.1' },
      },
    };
    let disable: ExecutionRecord | undefined;
    hooks['feature-rollout:StartPhase'] = onPhase(3, () => {
      // Once the canary bakes, the alarm fires and the disable runs beside the rollout.
      hooks['feature-rollout:EvaluateGate'] = async () => {
        hooks['feature-rollout:EvaluateGate'] = () => undefined;
        disable = await world.engine.run('feature-disable', alarmEvent);
      };
    });
    const run = await rollout();

    expect(disable?.status).toBe('SUCCEEDED');
    // The emergency did not wait for the lock the rollout held.
    expect(pathOf(disable!)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'ReadLockHolder',
      'DisableFlag',
      'VerifyOff',
      'Notify',
      'PublishNotice',
      'Disabled',
    ]);
    expect(disable!.output).toMatchObject({
      trigger: { source: 'alarm', alarmName: 'switchback-rehearsal-s003-error-rate' },
      lock: { taken: false, heldBy: run.arn },
    });
    // The rollout noticed at its next evaluation and stopped without touching the flag again.
    expect(run.error).toBe('RolloutInterruptedError');
    expect(pathOf(run).slice(-7)).toEqual([
      'Bake',
      'EvaluateGate',
      'CloseInterrupted',
      'ReleaseLockInterrupted',
      'Notify',
      'PublishNotice',
      'RolloutInterrupted',
    ]);
    expect(JSON.parse((await flag()).value)).toEqual(MEMORY_CONTEXT_OFF);
    expect((await served()).enabled).toBe(false);
    const log = await logOf(run);
    expect(log.status).toBe('interrupted');
    expect(log.phases.map((p) => p.status)).toEqual(['passed', 'passed', 'interrupted', 'pending']);
    expect(await world.lock()).toBeUndefined();
  });

  it('refuses a malformed input before any side effect', async () => {
    await world.parameters.put(MEMORY_CONTEXT_FLAG, serializeMemoryContextFlag(ON_100));
    const before = await flag();
    const run = await world.engine.run('feature-disable', { reason: 'x', budgetSeconds: 600 });
    expect(run.error).toBe('InvalidInputError');
    expect(run.cause).toMatch(/reason: say why.*budgetSeconds: Too big/);
    expect(await flag()).toEqual(before);
  });
});

describe('feature-disable when the app does not follow the flag', () => {
  let stale: World & { dispose(): Promise<void> };
  beforeAll(async () => {
    // The API caches the flag for an hour: only a restart makes it read "off".
    stale = await startWorld({ featureFlagCacheMs: 3_600_000 });
  });
  afterAll(async () => stale?.dispose());

  it('falls back to restarting the API past its budget, then verifies', async () => {
    await stale.parameters.put(MEMORY_CONTEXT_FLAG, serializeMemoryContextFlag(ON_100));
    const config = async () =>
      (
        (await (await fetch(`${stale.config.endpoints.api}/api/v1/config`)).json()) as {
          memory_context_enabled: boolean;
        }
      ).memory_context_enabled;
    // The app reads "on" once and keeps it.
    expect(await config()).toBe(true);
    const run = await stale.engine.run('feature-disable', { reason: 'stale app cache', budgetSeconds: 1 });

    expect(run.status).toBe('SUCCEEDED');
    expect(pathOf(run)).toEqual([
      'ValidateInput',
      'AcquireLock',
      'DisableFlag',
      'VerifyOff',
      'RestartApi',
      ...pathOf(run).filter((s) => s === 'WaitForStable' || s === 'CheckStable'),
      'VerifyOffAfterRestart',
      'ReleaseLock',
      'Notify',
      'PublishNotice',
      'Disabled',
    ]);
    expect(run.steps.find((s) => s.state === 'VerifyOff')?.outcome).toBe('caught');
    expect(await config()).toBe(false);
    expect(await stale.lock()).toBeUndefined();
  });
});
