import { beforeEach, describe, expect, it } from 'vitest';
import { disableFeature } from '../../functions/disable-feature/disable-feature';
import { requestApproval } from '../../functions/request-approval/request-approval';
import { readLog, rolloutMarkdownKey } from '../../functions/rollout/log';
import { rollout } from '../../functions/rollout/rollout';
import { AutomationPausedError, FlagDriftError, InvalidFlagValueError } from '../../functions/shared/errors';
import { ApprovalPolicy, GatePolicy, seedPhases } from '../../functions/shared/rollout-plan';
import { invokeStep } from '../../functions/shared/step';
import { type FakeDeps, fakeDeps } from '../support/fakes';

const FLAG = 'features/memory-context';
const OFF = '{"enabled":false,"percentage":0,"allowList":[]}';
const phases = seedPhases({
  internalProjects: ['internal-test'],
  canaryPercentage: 10,
  bakeSeconds: {},
  skip: [],
}).map((p, index) => ({ ...p, index, evaluations: 2 }));
const open = (extra: Record<string, unknown> = {}) => ({
  action: 'open',
  rolloutId: 'r1',
  executionId: 'arn:aws:states:x:1:execution:feature-rollout:r1',
  reason: 'ship it',
  requestedBy: 'alice',
  dryRun: false,
  phases,
  gate: GatePolicy.parse({}),
  approval: ApprovalPolicy.parse({}),
  ...extra,
});
const start = (index: number, expectVersion: number, extra: Record<string, unknown> = {}) => ({
  action: 'start-phase',
  rolloutId: 'r1',
  index,
  expectVersion,
  dryRun: false,
  approval: null,
  ...extra,
});

let deps: FakeDeps;
beforeEach(() => {
  deps = fakeDeps();
});

describe('rollout step', () => {
  it('open: records the flag as found and plans every phase, with planned dates from the bakes', async () => {
    const out = await invokeStep(rollout, open(), deps);
    expect(out).toEqual({ rolloutId: 'r1', flagVersion: 1 });
    const log = await readLog(deps.blobs, 'test', 'r1');
    expect(log).toMatchObject({
      status: 'running',
      flagParameter: '/switchback/test/features/memory-context',
      flagBefore: { value: { enabled: false, percentage: 0, allowList: [] }, version: 1 },
    });
    expect(log?.phases.map((p) => [p.name, p.status, p.plannedAt])).toEqual([
      ['infrastructure', 'pending', '2025-03-01T10:00:00.000Z'],
      ['internal', 'pending', '2025-03-01T14:00:00.000Z'],
      ['canary', 'pending', '2025-03-02T14:00:00.000Z'],
      ['full', 'pending', '2025-03-04T14:00:00.000Z'],
    ]);
    expect(deps.blobs.contentTypes.get(rolloutMarkdownKey('test', 'r1'))).toBe(
      'text/markdown; charset=utf-8',
    );
    // Re-opening returns the log already written.
    deps.flags.set(FLAG, '{"enabled":true,"percentage":5,"allowList":[]}');
    expect(await invokeStep(rollout, open(), deps)).toEqual({ rolloutId: 'r1', flagVersion: 1 });
  });

  it('open: a malformed flag is refused with InvalidFlagValueError and nothing is written', async () => {
    deps.flags.set(FLAG, '{"enabled":1}');
    await expect(invokeStep(rollout, open(), deps)).rejects.toThrow(InvalidFlagValueError);
    expect(deps.blobs.objects.size).toBe(0);
    expect(deps.flags.puts).toEqual([]);
  });

  it('start-phase: writes the phase value once, logs it with the approval, and a retry changes nothing', async () => {
    await invokeStep(rollout, open(), deps);
    expect(await invokeStep(rollout, start(0, 1), deps)).toMatchObject({
      name: 'infrastructure',
      flagVersion: 1,
    });
    expect(deps.flags.puts).toEqual([]);
    const internal = await invokeStep(
      rollout,
      start(1, 1, { approval: { approvedBy: 'bob', comment: 'go' } }),
      deps,
    );
    expect(internal).toMatchObject({ name: 'internal', flagVersion: 2 });
    expect(deps.flags.puts).toEqual([
      { name: FLAG, value: '{"enabled":true,"percentage":0,"allowList":["internal-test"]}', version: 2 },
    ]);
    // The Lambda is retried after it wrote: same answer, no second write.
    expect(await invokeStep(rollout, start(1, 1), deps)).toMatchObject({ flagVersion: 2 });
    expect(deps.flags.puts).toHaveLength(1);
    const log = await readLog(deps.blobs, 'test', 'r1');
    expect(log?.events.map((e) => [e.type, e.phase, e.message])).toEqual([
      [
        'opened',
        null,
        'Rollout of 4 phases (infrastructure, internal, canary, full) requested by alice: ship it',
      ],
      ['phase-started', 'infrastructure', `Flag already ${OFF} (version 1)`],
      ['approval-granted', 'internal', 'Approved by bob: go'],
      [
        'phase-started',
        'internal',
        'Flag set to {"enabled":true,"percentage":0,"allowList":["internal-test"]} (version 2)',
      ],
    ]);
    expect(log?.phases[1]).toMatchObject({ status: 'baking', flagVersion: 2 });
  });

  it('start-phase: refuses with FlagDriftError when someone else changed the flag, without writing', async () => {
    await invokeStep(rollout, open(), deps);
    deps.flags.set(FLAG, OFF); // an emergency disable wrote version 2
    await expect(invokeStep(rollout, start(1, 1), deps)).rejects.toThrow(FlagDriftError);
    await expect(invokeStep(rollout, start(1, 1), deps)).rejects.toThrow(
      /changed outside rollout r1: version 2 .* the rollout last saw version 1/,
    );
    expect(deps.flags.puts).toEqual([]);
  });

  it('start-phase: refuses with AutomationPausedError while the kill switch is on, without writing', async () => {
    await invokeStep(rollout, open(), deps);
    deps.flags.set('automation/paused', 'true');
    await expect(invokeStep(rollout, start(1, 1), deps)).rejects.toThrow(AutomationPausedError);
    await expect(invokeStep(rollout, start(1, 1), deps)).rejects.toThrow(
      /^automation\/paused is true \(the kill switch, version \d+\): rollout r1 does not advance to phase internal; features\/memory-context stays at version 1/,
    );
    expect(deps.flags.puts).toEqual([]);
    const log = await readLog(deps.blobs, 'test', 'r1');
    expect(log?.phases[1]?.status).toBe('pending');
    // Resumed: the same phase starts and writes.
    deps.flags.set('automation/paused', 'false');
    await expect(invokeStep(rollout, start(1, 1), deps)).resolves.toMatchObject({ index: 1, flagVersion: 2 });
  });

  it('start-phase: a retry after its write succeeded but its log did not adopts that write', async () => {
    await invokeStep(rollout, open(), deps);
    deps.flags.set(FLAG, '{"enabled":true,"percentage":0,"allowList":["internal-test"]}');
    expect(await invokeStep(rollout, start(1, 1), deps)).toMatchObject({ name: 'internal', flagVersion: 2 });
    expect(deps.flags.puts).toEqual([]);
    expect((await readLog(deps.blobs, 'test', 'r1'))?.phases[1]).toMatchObject({
      status: 'baking',
      flagVersion: 2,
    });
  });

  it('start-phase in a dry run never touches the flag', async () => {
    await invokeStep(rollout, open({ dryRun: true }), deps);
    expect(await invokeStep(rollout, start(3, 1, { dryRun: true }), deps)).toMatchObject({
      flagVersion: 1,
      dryRun: true,
    });
    expect(deps.flags.puts).toEqual([]);
    expect((await readLog(deps.blobs, 'test', 'r1'))?.events.at(-1)?.message).toMatch(
      /^Dry run: would set the flag to/,
    );
  });

  it('complete-phase, record and close: the baking phase takes the outcome; closing twice keeps the first', async () => {
    await invokeStep(rollout, open(), deps);
    await invokeStep(rollout, start(0, 1), deps);
    await invokeStep(rollout, { action: 'complete-phase', rolloutId: 'r1', index: 0 }, deps);
    await invokeStep(rollout, start(1, 1), deps);
    await invokeStep(
      rollout,
      { action: 'record', rolloutId: 'r1', type: 'decision', phase: 'internal', message: 'disabled' },
      deps,
    );
    expect(
      await invokeStep(
        rollout,
        { action: 'close', rolloutId: 'r1', status: 'rolled-back', message: 'gate' },
        deps,
      ),
    ).toEqual({
      rolloutId: 'r1',
      status: 'rolled-back',
    });
    expect(
      await invokeStep(
        rollout,
        { action: 'close', rolloutId: 'r1', status: 'completed', message: 'x' },
        deps,
      ),
    ).toEqual({
      rolloutId: 'r1',
      status: 'rolled-back',
    });
    const log = await readLog(deps.blobs, 'test', 'r1');
    expect(log?.phases.map((p) => p.status)).toEqual(['passed', 'rolled-back', 'pending', 'pending']);
    expect(log?.phases[1]?.notes).toBe('gate');
    expect(log?.closedAt).toBe('2025-03-01T10:00:00.000Z');
    const md = deps.blobs.text(rolloutMarkdownKey('test', 'r1'));
    expect(md).toContain(
      '| Phase 2: Internal Users | 2025-03-01T14:00:00.000Z | 2025-03-01T10:00:00.000Z | Rolled back |',
    );
  });

  it('refuses an unknown action or a status that is not an outcome', async () => {
    await expect(invokeStep(rollout, { action: 'drop', rolloutId: 'r1' }, deps)).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
    await expect(
      invokeStep(rollout, { action: 'close', rolloutId: 'r1', status: 'running', message: 'x' }, deps),
    ).rejects.toMatchObject({ name: 'InvalidInputError' });
  });
});

describe('request-approval step', () => {
  it('logs the request with its deadline and never the task token', async () => {
    await invokeStep(rollout, open(), deps);
    const token = 'AAAAKgAAAAIAAAAAAAAAA-secret-capability-token';
    const out = await invokeStep(
      requestApproval,
      { rolloutId: 'r1', phase: 'internal', index: 1, timeoutSeconds: 3600, taskToken: token },
      deps,
    );
    expect(out).toEqual({ requested: true, expires: '2025-03-01T11:00:00.000Z' });
    const log = await readLog(deps.blobs, 'test', 'r1');
    expect(log?.events.at(-1)).toMatchObject({
      type: 'approval-requested',
      phase: 'internal',
      message:
        'Waiting for approval to start phase 2 (internal) until 2025-03-01T11:00:00.000Z: `switchback approve --env test` (or --reject); no answer rolls back.',
    });
    const everything = [...deps.blobs.objects.values()].map((b) => new TextDecoder().decode(b)).join('\n');
    expect(everything.includes(token)).toBe(false);
    expect(JSON.stringify(deps.log.lines).includes(token)).toBe(false);
    expect(JSON.stringify(out).includes(token)).toBe(false);
  });
});

describe('disable-feature step', () => {
  it('writes off for everyone, whatever the flag held; already off writes nothing', async () => {
    deps.flags.set(FLAG, '{"enabled":true,"percentage":100,"allowList":[]}');
    expect(await invokeStep(disableFeature, {}, deps)).toEqual({
      flag: FLAG,
      version: 3,
      changed: true,
      previous: { version: 2, state: 'on' },
    });
    expect(await invokeStep(disableFeature, {}, deps)).toMatchObject({
      version: 3,
      changed: false,
      previous: { state: 'off' },
    });
    deps.flags.set(FLAG, 'not json at all');
    expect(await invokeStep(disableFeature, {}, deps)).toMatchObject({
      changed: true,
      previous: { state: 'invalid' },
    });
    expect((await deps.flags.get(FLAG)).value).toBe(OFF);
  });
});
