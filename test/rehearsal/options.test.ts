import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { useColor } from '../../cli/palette';
import { registerRehearse } from '../../cli/rehearse-command';
import type { ExecutionRecord } from '../../local/engine';
import { PostgresUnavailableError, postgresBinDir } from '../../local/postgres';
import {
  checkRehearsalOptions,
  failableStates,
  pruneRehearsals,
  RehearsalOptionError,
  UnknownStateError,
  verdictOf,
} from '../../local/rehearsal-checks';
import { REHEARSABLE } from '../../local/rehearse';
import { PROCEDURE_NAMES } from '../../procedures';
import { CLI, TSX, tempDirs } from './support';

const tmp = tempDirs('switchback-options-');
function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(TSX, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
}

describe('rehearse: options refused before anything starts', () => {
  it('an unknown --fail-at state is a named error listing the Task states', () => {
    let caught: unknown;
    try {
      checkRehearsalOptions({
        procedure: 'provider-cutover',
        rehearsable: REHEARSABLE,
        failAt: 'NoSuchState',
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UnknownStateError);
    const message = (caught as Error).message;
    expect((caught as Error).name).toBe('UnknownStateError');
    expect(message).toContain('provider-cutover has no state "NoSuchState"');
    for (const state of failableStates('provider-cutover')) expect(message).toContain(state);
    expect(failableStates('provider-cutover')).toContain('VerifyMemoryThroughApi');
  });

  it('a state that is not a Task cannot be made to fail, and says so', () => {
    expect(() =>
      checkRehearsalOptions({
        procedure: 'provider-cutover',
        rehearsable: REHEARSABLE,
        failAt: 'CutoverRolledBack',
      }),
    ).toThrow(/has a state "CutoverRolledBack", but it is not a Task/);
  });

  it('--error-spike-at takes a phase of the rollout, on the rollout only', () => {
    const check = (procedure: string, n: number) => () =>
      checkRehearsalOptions({ procedure, rehearsable: REHEARSABLE, errorSpikeAtPhase: n });
    expect(check('feature-rollout', 0)).toThrow(/from 1 to 4, not 0/);
    expect(check('feature-rollout', 5)).toThrow(/from 1 to 4, not 5/);
    expect(check('feature-rollout', Number.NaN)).toThrow(RehearsalOptionError);
    expect(check('provider-cutover', 2)).toThrow(/applies to feature-rollout only/);
    expect(check('feature-rollout', 3)).not.toThrow();
  });

  it('every registered procedure but the lock janitor is rehearsable; the janitor is refused with why', () => {
    expect([...REHEARSABLE]).toEqual(PROCEDURE_NAMES.filter((n) => n !== 'lock-janitor'));
    expect(() => checkRehearsalOptions({ procedure: 'lock-janitor', rehearsable: REHEARSABLE })).toThrow(
      /Cannot rehearse "lock-janitor" \(started by the engine/,
    );
  });

  it('the CLI: --help lists every procedure; bad options exit 2 and create no run folder', () => {
    const program = new Command();
    registerRehearse(program);
    const help = program.commands.find((c) => c.name() === 'rehearse')?.helpInformation() ?? '';
    for (const name of REHEARSABLE) expect(help).toContain(name);

    const dir = join(tmp(), 'run');
    const unknown = cli(['rehearse', 'provider-cutover', '--fail-at', 'NoSuchState', '--dir', dir]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('UnknownStateError: provider-cutover has no state "NoSuchState"');
    expect(unknown.stderr).toContain('VerifyMemoryThroughApi');
    expect(existsSync(dir)).toBe(false);

    const spike = cli(['rehearse', 'feature-rollout', '--error-spike-at', 'abc', '--dir', dir]);
    expect(spike.status).toBe(2);
    expect(spike.stderr).toContain(`argument 'abc' is invalid`);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('colour', () => {
  it('NO_COLOR wins, FORCE_COLOR forces it on a pipe, --no-color turns it off, a TTY gets it', () => {
    expect(useColor({ env: { NO_COLOR: '1' }, isTTY: true })).toBe(false);
    expect(useColor({ env: { NO_COLOR: '1', FORCE_COLOR: '1' }, isTTY: true })).toBe(false);
    expect(useColor({ env: { FORCE_COLOR: '1' }, isTTY: false })).toBe(true);
    expect(useColor({ env: { FORCE_COLOR: '0' }, isTTY: true })).toBe(false);
    expect(useColor({ env: {}, isTTY: true, flag: false })).toBe(false);
    expect(useColor({ env: {}, isTTY: true })).toBe(true);
    expect(useColor({ env: {}, isTTY: false })).toBe(false);
    // An empty NO_COLOR does not count (no-color.org).
    expect(useColor({ env: { NO_COLOR: '' }, isTTY: true })).toBe(true);
  });
});

describe('.rehearsal/ retention', () => {
  it('keeps the newest N run folders and never touches anything else', () => {
    const root = tmp();
    const runs = ['2026-11-01T10-00-00-000Z', '2026-11-02T10-00-00-000Z', '2026-11-03T10-00-00-000Z'];
    for (const r of [...runs, 'my-notes']) mkdirSync(join(root, r));
    const removed = pruneRehearsals(root, 2);
    expect(removed).toEqual([join(root, runs[0] as string)]);
    expect(readdirSync(root).sort()).toEqual([runs[1], runs[2], 'my-notes'].sort());
    expect(pruneRehearsals(join(root, 'missing'), 1)).toEqual([]);
  });
});

function record(o: Partial<ExecutionRecord> & { steps?: ExecutionRecord['steps'] }): ExecutionRecord {
  return {
    procedure: 'restore-sqlite',
    arn: 'arn:local:1',
    name: 'r-1',
    input: {},
    parentArn: undefined,
    status: 'FAILED',
    startedAt: 0,
    events: [],
    steps: [],
    ...o,
  };
}

describe('verdict and exit code', () => {
  const hit = [
    { state: 'VerifyMemoryRead', type: 'Task', startedAt: 0, retries: 0, error: 'InjectedFailureError' },
  ];
  it('a recovered restore that --fail-at asked for is as designed (exit 0)', () => {
    const v = verdictOf({
      execution: record({ steps: hit }),
      outcome: 'restore-failed-recovered',
      failAt: 'VerifyMemoryRead',
      executions: [],
    });
    expect(v).toEqual({
      asDesigned: true,
      exitCode: 0,
      text: 'as designed: the failure injected at VerifyMemoryRead was handled (restore-failed-recovered)',
    });
  });
  it('an injected failure never reached, or not handled, is not (exit 1)', () => {
    const missed = verdictOf({
      execution: record({ status: 'SUCCEEDED' }),
      outcome: 'restored',
      failAt: 'VerifyMemoryRead',
      executions: [],
    });
    expect(missed.exitCode).toBe(1);
    expect(missed.text).toContain('was never reached');
    const unhandled = verdictOf({
      execution: record({ steps: hit }),
      outcome: 'failed',
      failAt: 'VerifyMemoryRead',
      executions: [],
    });
    expect(unhandled.exitCode).toBe(1);
    expect(unhandled.text).toContain('was not handled');
  });
  it('a held environment after a broken rollback is the designed safety net; a failure nobody asked for is not', () => {
    const held = verdictOf({
      execution: record({ steps: [{ ...hit[0], state: 'RestoreFlags' } as never] }),
      outcome: 'rollback-failed',
      failAt: 'RestoreFlags',
      executions: [],
    });
    expect(held.exitCode).toBe(0);
    expect(held.text).toContain('held for an operator');
    const plain = verdictOf({
      execution: record({ error: 'RestoreFailedError' }),
      outcome: 'restore-failed-recovered',
      executions: [],
    });
    expect(plain.exitCode).toBe(1);
    expect(plain.text).toBe('failed with nothing injected: restore-failed-recovered (RestoreFailedError)');
  });
});

describe('finding PostgreSQL', () => {
  it('SWITCHBACK_PG_BINDIR first (refused, named, when it holds no server), then PATH', () => {
    const bin = tmp();
    for (const b of ['initdb', 'pg_ctl']) writeFileSync(join(bin, b), '');
    const empty = tmp();
    expect(postgresBinDir({ SWITCHBACK_PG_BINDIR: bin, PATH: '' })).toBe(bin);
    expect(postgresBinDir({ PATH: [empty, bin].join(delimiter) })).toBe(bin);
    expect(() => postgresBinDir({ SWITCHBACK_PG_BINDIR: empty, PATH: bin })).toThrow(
      PostgresUnavailableError,
    );
    expect(() => postgresBinDir({ SWITCHBACK_PG_BINDIR: empty, PATH: bin })).toThrow(
      `SWITCHBACK_PG_BINDIR=${empty} holds no initdb and pg_ctl`,
    );
  });
});
