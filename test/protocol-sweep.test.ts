/**
 * The fault-injection sweep over every registered procedure, with its steps stubbed: each
 * procedure of `procedures/index.ts` (but the lock janitor, which runs inside every failing case)
 * is replayed from a real run (test/fixtures/sweep/<procedure>.json, recorded by
 * `npm run sweep -- --record test/fixtures/sweep`) in the stubbed world of
 * `test/support/sweep-world.ts`, and
 *
 * - fails at each Task state its clean run reaches;
 * - fails once at each with the state's own transient error (a state with Retry absorbs it and the
 *   run ends as the clean one did);
 * - fails after each task's side effect;
 * - fails after its point of no return (`COMPENSATIONS`) and then again at each Task of the
 *   compensation that follows (the nested rollback, the hold, the notice).
 *
 * Every run must end in one state of the end-state invariant (`local/invariant.ts`): forward, or
 * nothing changed, or restored and announced with the lock released, or held with maintenance
 * served, the lock needs-operator and a notice; and no notice may say what the world does not
 * show. A new procedure is swept by registering it and recording its run. The same sweep over real
 * processes (flags, services and data for real) is `npm run sweep`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskStates } from '../local/definitions';
import type { Fault } from '../local/engine';
import { describeVerdict } from '../local/invariant';
import { failableStates, NOT_REHEARSED } from '../local/rehearsal-checks';
import {
  compensationCases,
  compensationEntry,
  faultLabel,
  hasRetry,
  ownTasks,
  pointOfNoReturn,
  type Recording,
  readRecording,
  recordedName,
  type SweepCase,
  singleFaultCases,
  tasksReached,
} from '../local/sweep';
import { COMPENSATIONS, PROCEDURE_NAMES, PROCEDURES, type ProcedureName } from '../procedures';
import { type StubbedRun, StubbedWorld, verdictOf } from './support/sweep-world';

const FIXTURES = join(__dirname, 'fixtures', 'sweep');
const RECORD = 'npm run sweep -- --record test/fixtures/sweep --procedure';
const fixture = (procedure: string) => join(FIXTURES, `${procedure}.json`);

/** Every registered procedure but those run by the engine itself: no list to keep here. */
const SWEPT = PROCEDURE_NAMES.filter((p) => !(p in NOT_REHEARSED));
const RECORDED = SWEPT.filter((p) => existsSync(fixture(p)));

let world: StubbedWorld;
let donors: Recording[] = [];
const load = (procedure: string) => readRecording(readFileSync(fixture(procedure), 'utf8'), world.endpoints);
beforeAll(async () => {
  world = await StubbedWorld.start();
  donors = RECORDED.map(load);
});
afterAll(async () => {
  await world?.close();
});

/** The executions of a run a fault applies to: of its procedure, started by its parent (or the run itself). */
const executionsAt = (run: StubbedRun, f: Fault) =>
  run.engine.executions.filter(
    (e) =>
      e.procedure === f.procedure &&
      (f.parent === undefined
        ? e.arn === run.execution.arn
        : run.engine.executions.find((p) => p.arn === e.parentArn)?.procedure === f.parent),
  );

/** Why a run is not consistent, as observed; empty when it is. */
function problems(c: SweepCase, run: StubbedRun, forward?: Readonly<Record<string, string>>): string[] {
  const verdict = verdictOf(run, forward);
  return [
    ...(verdict.ok ? [] : [describeVerdict(verdict)]),
    ...(c.kind !== 'none' && run.engine.injected.length === 0 ? ['the fault was never reached'] : []),
    ...(run.unrecorded.length
      ? [
          `no recorded result for ${run.unrecorded.join(', ')} (re-record: ${RECORD} ${run.execution.procedure})`,
        ]
      : []),
  ];
}

describe('the stubbed sweep covers every registered procedure', () => {
  it('every procedure of procedures/index.ts but the lock janitor has a recording to replay', () => {
    expect(SWEPT.length).toBeGreaterThan(0);
    expect(SWEPT).not.toContain('lock-janitor');
    expect(
      SWEPT.filter((p) => !RECORDED.includes(p)).map(
        (p) =>
          `${p}: no ${fixture(p)}; record it with \`${RECORD} ${p} && npx biome check --write test/fixtures\``,
      ),
    ).toEqual([]);
  });

  it.each(RECORDED)(
    '%s: the recording is of the current definitions (every recorded state is a Task of its procedure) and carries no secret',
    (procedure) => {
      const text = readFileSync(fixture(procedure), 'utf8');
      const recording = JSON.parse(text) as Recording;
      expect(recording.procedure).toBe(procedure);
      expect(recording.execution).toBe(recordedName(procedure));
      const stale = Object.keys(recording.results).filter((key) => {
        const [p, state] = (key.split('>')[1] ?? '').split(':') as [string, string];
        return (
          !(p in PROCEDURES) ||
          !taskStates(PROCEDURES[p as ProcedureName] as never).some((t) => t.name === state)
        );
      });
      expect(stale.map((k) => `${k} is no Task state any more (re-record: ${RECORD} ${procedure})`)).toEqual(
        [],
      );
      expect(text).not.toMatch(/sk-rehearsal-|qk-[0-9a-f]{8}|password=|:\/\/[^/\s"<>]+:[^@/\s"<>]+@/);
    },
  );
});

describe.each(RECORDED)('%s, steps stubbed', (procedure) => {
  let reached: Fault[] = [];
  let forward: Record<string, string> | undefined;
  let clean: StubbedRun | undefined;
  const recording = () => donors.find((d) => d.procedure === procedure) as Recording;

  /** Each case that did not end consistent, `kind at` -> what was observed. */
  async function sweep(cases: SweepCase[], check?: (c: SweepCase, run: StubbedRun) => string[]) {
    const seen: Record<string, string> = {};
    for (const c of cases) {
      const run = await world.run(recording(), c.faults, donors);
      const p = [...problems(c, run, forward), ...(check?.(c, run) ?? [])];
      if (p.length) seen[`${c.kind} ${c.at}`] = `${run.execution.status}: ${p.join('; ')}`;
    }
    return seen;
  }

  it('the clean replay ends SUCCEEDED, forward, with the lock free', async () => {
    clean = await world.run(recording(), [], donors);
    expect(problems({ kind: 'none', at: '', faults: [] }, clean)).toEqual([]);
    expect(clean.execution.status).toBe('SUCCEEDED');
    expect(verdictOf(clean).endState).toBe('forward');
    expect(clean.observed.lock).toBeUndefined();
    forward = Object.fromEntries(Object.entries(clean.observed.flags).map(([k, v]) => [k, v.value]));
    reached = tasksReached(clean.engine, clean.execution);
    const own = ownTasks(procedure, reached).map((f) => f.state);
    expect(own.length).toBeGreaterThan(0);
    for (const state of own) expect(failableStates(procedure)).toContain(state);
  });

  it('a failure at each Task it reaches (its nested executions too) ends consistent, the failure taken at that state', async () => {
    const cases = singleFaultCases(procedure, reached, ['fail'], { nested: true });
    expect(cases.length).toBe(reached.length);
    const failedThere = (c: SweepCase, run: StubbedRun) => {
      const f = c.faults[0] as Fault;
      return executionsAt(run, f).some((e) =>
        e.steps.some((s) => s.state === f.state && s.error === 'InjectedFailureError'),
      )
        ? []
        : [`${faultLabel(f)} did not fail with InjectedFailureError`];
    };
    expect(await sweep(cases, failedThere)).toEqual({});
  });

  it("a once-only transient fault at each Task is absorbed by the state's Retry (the run ends as the clean one), or handled as a failure", async () => {
    const cases = singleFaultCases(procedure, reached, ['once'], { nested: true });
    expect(cases.length).toBe(reached.length);
    const absorbed = (c: SweepCase, run: StubbedRun) => {
      const f = c.faults[0] as Fault;
      if (!hasRetry(f)) return [];
      const out: string[] = [];
      if (!executionsAt(run, f).some((e) => e.steps.some((s) => s.state === f.state && s.retries > 0)))
        out.push(`${faultLabel(f)} was not retried`);
      if (run.execution.status !== clean?.execution.status)
        out.push(`ended ${run.execution.status}, the clean run ${clean?.execution.status}`);
      if (verdictOf(run, forward).endState !== 'forward') out.push('did not end forward');
      return out;
    };
    expect(await sweep(cases, absorbed)).toEqual({});
  });

  it("a failure after each Task's side effect (its nested executions' too) ends consistent", async () => {
    const cases = singleFaultCases(procedure, reached, ['after'], { nested: true });
    expect(cases.length).toBe(reached.length);
    expect(await sweep(cases)).toEqual({});
  });

  it('a second failure at each Task of the compensation ends consistent (held for an operator when it cannot restore)', async () => {
    const first = pointOfNoReturn(procedure, reached);
    if (!first) {
      // No point of no return in procedures/index.ts COMPENSATIONS: nothing to compensate.
      expect(COMPENSATIONS[procedure]).toBeUndefined();
      expect(recording().runs.map((r) => r.kind)).toEqual(['clean']);
      return;
    }
    const entry = await world.run(recording(), [first], donors);
    expect(problems(compensationEntry(first), entry, forward)).toEqual([]);
    expect(verdictOf(entry, forward).endState).not.toBe('forward');
    const cases = compensationCases(first, tasksReached(entry.engine, entry.execution, first.state));
    expect(cases.length).toBeGreaterThan(0);
    expect(await sweep(cases)).toEqual({});
  });
});
