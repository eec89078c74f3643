/**
 * Fault-injection sweep over real local worlds (a script, not part of `npm test`): for every
 * procedure a rehearsal can run (every registered one but the lock janitor, with its setup and
 * default input from `local/rehearse.ts`), a clean run, then a failure at each Task state that run
 * reaches, a once-only transient fault at each (its Retry absorbs it), optionally a fault after
 * each task's side effect, and a second fault at each Task of the compensation. Each run gets a
 * fresh world (the reference memory stack as real processes) and its end is checked by the
 * end-state invariant. Prints a row per run, then states x procedures covered and the count per
 * fault kind; exits 1 on any inconsistent end state.
 *
 *   npm run sweep
 *   npm run sweep -- --procedure provider-cutover,provider-rollback --kinds fail,once,after,compensation
 *   npm run sweep -- --jobs 2 --out sweep.json
 *   npm run sweep -- --states nested --kinds fail,once   (only the Task states of nested executions)
 *   npm run sweep -- --record test/fixtures/sweep && npx biome check --write test/fixtures
 *     (re-records what the stubbed sweep in the test suite replays)
 */
import '../local/polyfills';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import type { Fault, TaskOutcome } from '../local/engine';
import {
  checkEndState,
  describeVerdict,
  normalizeFlags,
  observe,
  readFlags,
  type Verdict,
} from '../local/invariant';
import { failableStates, NOT_REHEARSED } from '../local/rehearsal-checks';
import { defaultInput, REHEARSABLE, runSetup, startRehearsalWorld } from '../local/rehearse';
import {
  compensationCases,
  compensationEntry,
  hasRetry,
  ownTasks,
  pointOfNoReturn,
  type Recording,
  recordedName,
  recordingText,
  resultKey,
  SWEEP_KINDS,
  type SweepCase,
  type SweepKind,
  singleFaultCases,
  tasksReached,
} from '../local/sweep';
import type { ProcedureName } from '../procedures';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const opts = new Command()
  .name('sweep')
  .option('--procedure <names>', 'comma-separated procedures (default: every rehearsable one)')
  .option('--kinds <kinds>', `comma-separated: ${SWEEP_KINDS.join(', ')}`, 'fail,once,compensation')
  .option(
    '--states <which>',
    "Task states to fail: 'own' (the procedure's), 'nested' (those of the executions it starts, each qualified by its parent) or 'all'",
    'all',
  )
  .option('--jobs <n>', 'runs at a time (each its own world)', (v) => Number.parseInt(v, 10), 1)
  .option('--timeout <s>', 'seconds a run may take before it is stopped (counted as inconsistent)', '180')
  .option('--out <file>', 'write every run, with its verdict, as JSON (rewritten after each procedure)')
  .option(
    '--record <dir>',
    "only the clean and compensation runs, writing each step's results to <dir>/<procedure>.json (what the stubbed sweep in the tests replays)",
  )
  .parse()
  .opts<{
    procedure?: string;
    kinds: string;
    states: string;
    jobs: number;
    timeout: string;
    out?: string;
    record?: string;
  }>();

const kinds = opts.kinds.split(',') as SweepKind[];
for (const k of kinds)
  if (!SWEEP_KINDS.includes(k)) throw new Error(`Unknown kind "${k}"; kinds: ${SWEEP_KINDS.join(', ')}`);
const procedures = opts.procedure ? opts.procedure.split(',') : [...REHEARSABLE];
for (const p of procedures)
  if (!REHEARSABLE.includes(p))
    throw new Error(`"${p}" cannot run in a local world; choose from: ${REHEARSABLE.join(', ')}`);
const timeoutMs = Number(opts.timeout) * 1000;
if (!['own', 'nested', 'all'].includes(opts.states))
  throw new Error(`--states takes own, nested or all, not "${opts.states}"`);
/** The single-fault cases of a procedure at the Task states `--states` names. */
const casesOf = (procedure: string, reached: readonly Fault[]) =>
  singleFaultCases(procedure, reached, kinds, { nested: opts.states !== 'own' }).filter(
    (c) => opts.states !== 'nested' || c.faults[0]?.parent !== undefined,
  );

interface Row {
  readonly procedure: string;
  readonly kind: SweepCase['kind'];
  readonly at: string;
  /** How many faults the engine injected (0: the fault's state was never reached). */
  readonly fired: number;
  readonly status: string;
  readonly verdict: Verdict;
  readonly path: string;
  readonly ms: number;
  /** Task states the run reached (its nested executions' too). */
  readonly reached: readonly Fault[];
  /** Those reached after the first fault failed its state: the compensation. */
  readonly afterFault: readonly Fault[];
  /** The clean run's flags: what the other runs' `forward` is checked against. */
  readonly forwardFlags?: Record<string, string>;
}

/** One run in a fresh world: setup, the procedure with `faults`, and the verdict on its end. */
async function runCase(
  procedure: string,
  c: SweepCase,
  forward?: Record<string, string>,
  record?: {
    results: Record<string, TaskOutcome[]>;
    done?: (r: Omit<Recording, 'runs'>, w: Endpoints) => void;
  },
): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-sweep-'));
  const started = Date.now();
  let recording = false;
  const notRun = (why: string): Row => ({
    procedure,
    kind: c.kind,
    at: c.at,
    fired: 0,
    status: 'NOT RUN',
    verdict: { endState: 'refused', ok: false, violations: [why] },
    path: '',
    ms: Date.now() - started,
    reached: [],
    afterFault: [],
  });
  let stack: Awaited<ReturnType<typeof startRehearsalWorld>>;
  try {
    stack = await startRehearsalWorld({
      procedure,
      dir,
      timing: { stabilityMaxAttempts: 30, httpTimeoutMs: 2_000 },
      engine: {
        waitOverrideMs: 100,
        faults: c.faults,
        ...(record
          ? {
              onTaskResult: (execution, state, outcome) => {
                if (!recording || execution.procedure === 'lock-janitor') return;
                const key = resultKey(stack.world.engine, execution, state);
                record.results[key] = [...(record.results[key] ?? []), outcome];
              },
            }
          : {}),
      },
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return notRun(`the world did not start: ${(err as Error).message}`);
  }
  const { world } = stack;
  open.add(stack);
  try {
    // A world that cannot get ready (a loaded machine) is a row, counted as inconsistent, never hidden.
    const setup = await runSetup(world, procedure).then(
      () => undefined,
      (err: Error) => err.message,
    );
    if (setup !== undefined) return notRun(`setup failed: ${setup}`);
    const before = await readFlags(world);
    recording = true;
    const run = world.engine.start(procedure, defaultInput(world.config.environment, procedure), {
      name: recordedName(procedure),
    });
    const timer = setTimeout(
      () =>
        world.engine.stop(run.arn, { error: 'SweepTimeout', cause: `still running after ${opts.timeout} s` }),
      timeoutMs,
    );
    const execution = await run.done;
    clearTimeout(timer);
    recording = false;
    const judged = checkEndState(await observe(world, execution), {
      before,
      forward,
      normalize: (v) => normalizeFlags(world, v),
    });
    // Stopped by the sweep itself: whatever it left, the procedure did not end by itself. A
    // once-only fault at a state with Retry must be absorbed: the run ends as a clean one.
    const also = [
      ...(execution.error === 'SweepTimeout' ? [`still running after ${opts.timeout} s`] : []),
      ...(c.kind === 'once' &&
      hasRetry(c.faults[0] as Fault) &&
      (execution.status !== 'SUCCEEDED' || judged.endState !== 'forward')
        ? [
            `the transient error at ${c.at} was not absorbed by its Retry (${execution.status}, ${judged.endState})`,
          ]
        : []),
    ];
    const verdict: Verdict = also.length
      ? { ...judged, ok: false, violations: [...also, ...judged.violations] }
      : judged;
    record?.done?.(
      {
        procedure,
        execution: recordedName(procedure),
        before: Object.fromEntries(Object.entries(before).map(([k, v]) => [k, v.value])),
        results: record.results,
      },
      world.config.endpoints,
    );
    return {
      procedure,
      kind: c.kind,
      at: c.at,
      fired: world.engine.injected.length,
      status: `${execution.status}${execution.error ? ` ${execution.error}` : ''}`,
      verdict,
      path: execution.steps.map((s) => s.state).join('>'),
      ms: Date.now() - started,
      reached: tasksReached(world.engine, execution),
      afterFault: c.faults[0] ? tasksReached(world.engine, execution, c.faults[0].state) : [],
      ...(forward ? {} : { forwardFlags: normalizeFlags(world, world.parameters.snapshot()) }),
    };
  } finally {
    open.delete(stack);
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Worlds running now: an interrupted sweep ends their processes (PostgreSQL too) before it exits. */
const open = new Set<{ close(): Promise<void> }>();
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    process.stdout.write(`\nsweep: ${signal}, closing ${open.size} world(s)\n`);
    void Promise.allSettled([...open].map((w) => w.close())).then(() => process.exit(code));
  });
}

type Endpoints = { readonly api: string; readonly sidecar: string };

/** Runs `tasks` with at most `jobs` at a time; results in the order of the tasks. */
async function pool<T>(jobs: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(jobs, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await (tasks[i] as () => Promise<T>)();
      }
    }),
  );
  return out;
}

const print = (r: Row) =>
  process.stdout.write(
    `${r.procedure.padEnd(18)} ${r.kind.padEnd(12)} ${r.at.padEnd(60)} ${r.verdict.endState.padEnd(9)} ${r.verdict.ok ? 'ok ' : 'INCONSISTENT'}${r.fired || r.kind === 'none' ? '' : ' (fault not reached)'}  ${(r.ms / 1000).toFixed(1)} s${r.verdict.ok ? '' : `\n${' '.repeat(20)}${r.status}: ${describeVerdict(r.verdict)}`}\n`,
  );

/**
 * A case whose world could not get ready (a process that did not start in time on a loaded
 * machine) is run once more in a fresh world; a second failure stays a row, counted as
 * inconsistent. Never a run whose procedure started: its end is what is judged.
 */
let retried = 0;
async function runCaseOnce(procedure: string, c: SweepCase, forward?: Record<string, string>) {
  const first = await runCase(procedure, c, forward);
  if (first.status !== 'NOT RUN') return first;
  retried += 1;
  process.stdout.write(`  (${procedure} ${c.at}: ${first.verdict.violations.join('; ')}; run again)\n`);
  return runCase(procedure, c, forward);
}

const runAll = (procedure: string, cases: SweepCase[], forward?: Record<string, string>) =>
  pool(
    opts.jobs,
    cases.map((c) => async () => {
      const r = await runCaseOnce(procedure, c, forward);
      print(r);
      return r;
    }),
  );

async function main() {
  if (opts.record) return recordAll(opts.record);
  const started = Date.now();
  process.stdout.write(
    `Fault-injection sweep over real local worlds: ${procedures.join(', ')}\nkinds ${kinds.join(', ')}; not swept on their own: ${
      Object.entries(NOT_REHEARSED)
        .map(([p, why]) => `${p} (${why})`)
        .join(', ') || 'none'
    }\n\n`,
  );
  process.stdout.write(
    `${'procedure'.padEnd(18)} ${'fault'.padEnd(12)} ${'at'.padEnd(60)} ${'end state'.padEnd(9)} invariant\n`,
  );
  const rows: Row[] = [];
  const coverage: { procedure: string; tasks: number; reached: number; nested: number }[] = [];
  for (const procedure of procedures) {
    const clean = await runCaseOnce(procedure, { kind: 'none', at: '(clean run)', faults: [] });
    print(clean);
    rows.push(clean);
    const forward = clean.forwardFlags;
    coverage.push({
      procedure,
      tasks: failableStates(procedure as ProcedureName).length,
      reached: ownTasks(procedure, clean.reached).length,
      nested: clean.reached.length - ownTasks(procedure, clean.reached).length,
    });
    rows.push(...(await runAll(procedure, casesOf(procedure, clean.reached), forward)));
    const first = pointOfNoReturn(procedure, clean.reached);
    if (kinds.includes('compensation') && first && opts.states !== 'nested') {
      const entry = await runCaseOnce(procedure, compensationEntry(first), forward);
      print(entry);
      rows.push(entry, ...(await runAll(procedure, compensationCases(first, entry.afterFault), forward)));
    }
    if (opts.out) writeFileSync(opts.out, `${JSON.stringify(rows, null, 2)}\n`);
  }
  const bad = rows.filter((r) => !r.verdict.ok);
  const unreached = rows.filter((r) => r.kind !== 'none' && r.fired === 0);
  const by = (list: Row[], k: string) => list.filter((r) => r.kind === k).length;
  process.stdout.write('\nCount\n');
  for (const c of coverage) {
    const mine = rows.filter((r) => r.procedure === c.procedure);
    process.stdout.write(
      `  ${c.procedure.padEnd(18)} ${String(c.reached).padStart(3)} of ${String(c.tasks).padStart(3)} Task states on the clean path (and ${c.nested} of its nested executions); runs: fail ${by(mine, 'fail')}, once ${by(mine, 'once')}, after ${by(mine, 'after')}, compensation ${by(mine, 'compensation')}; inconsistent ${mine.filter((r) => !r.verdict.ok).length}\n`,
    );
  }
  const states = coverage.reduce((n, c) => n + c.reached, 0);
  process.stdout.write(
    `  ${states} Task states (+ ${coverage.reduce((n, c) => n + c.nested, 0)} of nested executions) x ${coverage.length} procedures; ${rows.length} runs (fail ${by(rows, 'fail')}, once ${by(rows, 'once')}, after ${by(rows, 'after')}, compensation ${by(rows, 'compensation')}, clean ${by(rows, 'none')}): ${rows.length - bad.length} consistent, ${bad.length} inconsistent, ${unreached.length} whose fault was not reached; ${retried} world(s) started again; ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
  for (const r of bad)
    process.stdout.write(`  INCONSISTENT ${r.procedure} ${r.kind} ${r.at}: ${describeVerdict(r.verdict)}\n`);
  process.exitCode = bad.length ? 1 : 0;
}

/** `--record`: the clean run and the compensation entry of each procedure, their step results kept. */
async function recordAll(dir: string) {
  mkdirSync(dir, { recursive: true });
  for (const procedure of procedures) {
    const results: Record<string, TaskOutcome[]> = {};
    let kept: { recording: Omit<Recording, 'runs'>; endpoints: Endpoints } | undefined;
    const clean = await runCase(procedure, { kind: 'none', at: '(clean run)', faults: [] }, undefined, {
      results,
      done: (recording, endpoints) => {
        kept = { recording, endpoints };
      },
    });
    print(clean);
    if (!clean.verdict.ok || !kept)
      throw new Error(`${procedure}: the clean run to record was not consistent`);
    const runs: Recording['runs'][number][] = [{ kind: 'clean', faults: [] }];
    const first = pointOfNoReturn(procedure, clean.reached);
    if (first) {
      const entry = compensationEntry(first);
      const extra: Record<string, TaskOutcome[]> = {};
      let endpoints: Endpoints | undefined;
      print(
        await runCase(procedure, entry, clean.forwardFlags, {
          results: extra,
          done: (_r, e) => {
            endpoints = e;
          },
        }),
      );
      // The compensation world has ports of its own: its results carry the clean world's instead.
      const moved = (text: string) =>
        endpoints && kept
          ? text
              .split(endpoints.sidecar)
              .join(kept.endpoints.sidecar)
              .split(endpoints.api)
              .join(kept.endpoints.api)
          : text;
      // The clean run's results first: a replay takes them in order, then the compensation's.
      for (const [k, v] of Object.entries(extra))
        results[k] = [...(results[k] ?? []), ...(JSON.parse(moved(JSON.stringify(v))) as TaskOutcome[])];
      runs.push({ kind: 'compensation', faults: entry.faults });
    }
    writeFileSync(
      join(dir, `${procedure}.json`),
      recordingText({ ...kept.recording, runs, results }, kept.endpoints),
    );
  }
}

main().catch((err: Error) => {
  console.error(`sweep: ${err.stack ?? err.message}`);
  process.exitCode = 2;
});
