import { describe, expect, it } from 'vitest';
import type { Notification } from '../local/engine';
import { checkEndState, describeVerdict, type FlagReading, type Observed } from '../local/invariant';

const ARN = 'arn:aws:states:local-1:000000000000:execution:switchback-rehearsal-provider-cutover:x';
const before: Record<string, FlagReading> = {
  'memory/provider': { value: 'native', version: 1 },
  'maintenance-mode': { value: 'off', version: 1 },
};
const forward = { 'memory/provider': 'http', 'maintenance-mode': 'off' };

function notice(message: string, outcome = 'rolled-back'): Notification {
  return {
    topicArn: 't',
    subject: `Switchback: ${outcome}`,
    message,
    attributes: { outcome },
    executionArn: ARN,
  };
}

function world(o: Partial<Observed> & { flags?: Record<string, FlagReading> }): Observed {
  return {
    execution: { procedure: 'provider-cutover', arn: ARN, status: 'FAILED', error: 'X', cause: 'y' },
    lock: undefined,
    flags: before,
    api: { provider: 'native', maintenance: false },
    notifications: [],
    ...o,
  };
}

describe('the end-state invariant', () => {
  it('forward: SUCCEEDED, lock free, flags as a clean run leaves them, served by the API', () => {
    const v = checkEndState(
      world({
        execution: { procedure: 'provider-cutover', arn: ARN, status: 'SUCCEEDED' } as Observed['execution'],
        flags: {
          'memory/provider': { value: 'http', version: 2 },
          'maintenance-mode': { value: 'off', version: 1 },
        },
        api: { provider: 'http', maintenance: false },
      }),
      { before, forward },
    );
    expect(v).toEqual({ endState: 'forward', ok: true, violations: [] });
  });

  it('refused: nothing changed, not even a version', () => {
    expect(checkEndState(world({}), { before, forward })).toEqual({
      endState: 'refused',
      ok: true,
      violations: [],
    });
  });

  it('restored: flags back to their values of before (new versions), served, and announced', () => {
    const v = checkEndState(
      world({
        flags: {
          'memory/provider': { value: 'native', version: 3 },
          'maintenance-mode': { value: 'off', version: 1 },
        },
        notifications: [notice('It was rolled back to the recorded flags. Lock released.')],
      }),
      { before, forward },
    );
    expect(v).toEqual({ endState: 'restored', ok: true, violations: [] });
  });

  it('held: lock needs-operator, maintenance on and served, and announced', () => {
    const v = checkEndState(
      world({
        lock: { owner: ARN, procedure: 'provider-cutover', status: 'needs-operator' },
        flags: {
          'memory/provider': { value: 'http', version: 2 },
          'maintenance-mode': { value: 'on', version: 2 },
        },
        api: { provider: 'http', maintenance: true },
        notifications: [
          notice('Maintenance mode is ON and the environment lock is HELD.', 'rollback-failed'),
        ],
      }),
      { before, forward },
    );
    expect(v).toEqual({ endState: 'held', ok: true, violations: [] });
  });

  it('a hold whose API serves no maintenance breaks the invariant, saying what the API serves (hole 7)', () => {
    const v = checkEndState(
      world({
        lock: { owner: ARN, procedure: 'provider-cutover', status: 'needs-operator' },
        flags: {
          'memory/provider': { value: 'native', version: 3 },
          'maintenance-mode': { value: 'on', version: 2 },
        },
        api: { provider: 'native', maintenance: false },
        notifications: [
          notice('Maintenance mode is ON and the environment lock is HELD.', 'rollback-failed'),
        ],
      }),
      { before, forward },
    );
    expect(v.endState).toBe('held');
    expect(v.ok).toBe(false);
    expect(v.violations).toEqual([
      'the API serves maintenance false',
      'notification "Switchback: rollback-failed" says "Maintenance mode is ON" but the API serves maintenance false (maintenance-mode on)',
    ]);
  });

  it('a lock left held after the end, announced as released, is none of the four (hole 1)', () => {
    const v = checkEndState(
      world({
        execution: { procedure: 'provider-cutover', arn: ARN, status: 'SUCCEEDED' } as Observed['execution'],
        lock: { owner: ARN, procedure: 'provider-cutover', status: 'held' },
        flags: {
          'memory/provider': { value: 'http', version: 2 },
          'maintenance-mode': { value: 'off', version: 1 },
        },
        api: { provider: 'http', maintenance: false },
        notifications: [notice('Cutover succeeded. Lock released.', 'cutover-succeeded')],
      }),
      { before, forward },
    );
    expect(v.ok).toBe(false);
    expect(v.endState).toBe('forward');
    expect(describeVerdict(v)).toBe(
      `not forward: the lock is held by ${ARN} (provider-cutover, status held); notification "Switchback: cutover-succeeded" says "Lock released" but the lock is held by ${ARN} (provider-cutover, status held); not refused either: the lock is held by ${ARN} (provider-cutover, status held), memory/provider went from version 1 to 2; not restored either: the lock is held by ${ARN} (provider-cutover, status held), memory/provider is "http" (expected "native")`,
    );
  });

  it('flags half-changed with the API on the other provider: why each state is not met, as observed', () => {
    const v = checkEndState(
      world({
        flags: {
          'memory/provider': { value: 'http', version: 2 },
          'maintenance-mode': { value: 'off', version: 1 },
        },
        api: { provider: 'native', maintenance: false },
      }),
      { before, forward },
    );
    expect(v.ok).toBe(false);
    expect(v.endState).toBe('refused');
    expect(v.violations).toEqual([
      'memory/provider went from version 1 to 2',
      // FAILED is announced by the procedure's Failed alarm: only what the world shows is listed.
      'not forward either: the API serves provider native while memory/provider is http',
      'not restored either: memory/provider is "http" (expected "native"), the API serves provider native while memory/provider is http',
    ]);
  });

  const HELD_LOCK = { owner: ARN, procedure: 'provider-cutover', status: 'needs-operator' } as const;

  it('a hold whose own maintenance step failed is held when its notice says what the flag and the API are, as observed (hole 3)', () => {
    const observed = (message: string) =>
      world({
        lock: { ...HELD_LOCK },
        flags: {
          'memory/provider': { value: 'http', version: 2 },
          'maintenance-mode': { value: 'off', version: 1 },
        },
        api: { provider: 'http', maintenance: false },
        notifications: [notice(message, 'rollback-failed')],
      });
    const honest = checkEndState(
      observed(
        'Observed: maintenance-mode flag off; the API does NOT serve maintenance; the environment lock is HELD (needs-operator). While holding, setting maintenance mode failed (InjectedFailureError).',
      ),
      { before, forward },
    );
    expect(honest).toEqual({ endState: 'held', ok: true, violations: [] });
    const meant = checkEndState(observed('Maintenance mode is ON and the environment lock is HELD.'), {
      before,
      forward,
    });
    expect(meant.endState).toBe('held');
    expect(meant.violations).toEqual([
      'maintenance-mode is off',
      'the API serves maintenance false',
      'notification "Switchback: rollback-failed" says "Maintenance mode is ON" but the API serves maintenance false (maintenance-mode off)',
    ]);
  });

  it('a notice that says the API does NOT serve maintenance while it does is a false claim', () => {
    const v = checkEndState(
      world({
        lock: { ...HELD_LOCK },
        flags: { ...before, 'maintenance-mode': { value: 'on', version: 2 } },
        api: { provider: 'native', maintenance: true },
        notifications: [
          notice('Observed: maintenance-mode flag on; the API does NOT serve maintenance.', 'x'),
        ],
      }),
      { before, forward },
    );
    expect(v.ok).toBe(false);
    expect(v.violations).toEqual([
      'notification "Switchback: x" says the API does NOT serve maintenance but it does',
    ]);
  });

  it('a restore whose notice could not be sent is announced by the execution ending FAILED (its Failed alarm), not when it SUCCEEDED', () => {
    const restored = {
      flags: {
        'memory/provider': { value: 'native', version: 3 },
        'maintenance-mode': { value: 'off', version: 1 },
      },
    };
    expect(checkEndState(world(restored), { before, forward })).toEqual({
      endState: 'restored',
      ok: true,
      violations: [],
    });
    const succeeded = checkEndState(
      world({
        ...restored,
        execution: { procedure: 'provider-cutover', arn: ARN, status: 'SUCCEEDED' } as Observed['execution'],
      }),
      { before, forward },
    );
    expect(succeeded.ok).toBe(false);
    expect(describeVerdict(succeeded)).toContain('no notification was sent (execution SUCCEEDED)');
  });

  it("the janitor's release notice ends with what it saw before the release: not a claim that the lock is held", () => {
    const v = checkEndState(
      world({
        flags: {
          'memory/provider': { value: 'http', version: 2 },
          'maintenance-mode': { value: 'off', version: 1 },
        },
        api: { provider: 'http', maintenance: false },
        notifications: [
          notice(
            'Execution x ended FAILED while holding the rehearsal lock (provider-cutover). The lock was released. Observed: maintenance-mode flag off; the API does NOT serve maintenance; the environment lock is held but NOT marked needs-operator.',
            'lock-released',
          ),
        ],
      }),
      { before, forward },
    );
    expect(v).toEqual({ endState: 'forward', ok: true, violations: [] });
  });

  it('an execution that failed with States.Runtime (a path its state does not hold) is never consistent', () => {
    const v = checkEndState(
      world({
        execution: {
          procedure: 'feature-rollout',
          arn: ARN,
          status: 'FAILED',
          error: 'States.Runtime',
          cause: "Path expression '$.request.timing.stabilityMaxAttempts' does not point to a value",
        },
      }),
      { before, forward },
    );
    expect(v.endState).toBe('refused');
    expect(v.ok).toBe(false);
    expect(v.violations).toEqual([
      "the execution failed with States.Runtime (Path expression '$.request.timing.stabilityMaxAttempts' does not point to a value)",
    ]);
  });
});
