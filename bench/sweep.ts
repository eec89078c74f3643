/**
 * Fault-injection sweep over real local worlds (not part of `npm test`): for every procedure a
 * local world can run (the rehearsal's list, with its setup and default input), a clean run, then
 * a failure at each Task state that run reaches, a once-only transient fault at each (Retry
 * absorbs it), and a second fault at each Task of the compensation. Each run gets a fresh world
 * and its end is checked by the end-state invariant. Prints a table and a count; exits 1 on any
 * violation.
 *
 *   npm run sweep
 *   npm run sweep -- --procedure provider-cutover,provider-rollback --kinds fail,once,after,compensation
 *   npm run sweep -- --jobs 2 --out sweep.json
 *   npm run sweep -- --record test/fixtures/sweep && npx biome check --write test/fixtures   (re-record the stubbed sweep's replays)
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
import { defaultInput, REHEARSABLE, runSetup, startRehearsalWorld } from '../local/rehearse';
import {
  compensationCases,
  compensationEntry,
  pointOfNoReturn,
  type Recording,
  recordedName,
  resultKey,
  SWEEP_KINDS,
  type SweepCase,
  type SweepKind,
  singleFaultCases,
  tasksReached,
} from '../local/sweep';
import { PROCEDURE_NAMES } from '../procedures';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const opts = new Command()
  .option('--procedure <names>', 'comma-separated procedures (default: every rehearsable one)')
  .option('--kinds <kinds>', `comma-separated: ${SWEEP_KINDS.join(', ')}`, 'fail,once,compensation')
  .option('--jobs <n>', 'runs at a time (each its own world)', (v) => Number.parseInt(v, 10), 1)
  .option('--timeout <s>', 'seconds a run may take before it is stopped and counted as a violation', '180')
  .option('--out <file>', 'write every run, with its verdict, as JSON')
  .option(
    '--record <dir>',
    "only the clean and compensation runs, writing each step's results to <dir>/<procedure>.json (what the stubbed sweep in the tests replays)",
  )
  .parse()
  .opts<{
    procedure?: string;
    kinds: string;
    jobs: number;
    timeout: string;
    out?: string;
    record?: string;
  }>();

const kinds = opts.kinds.split(',') as SweepKind[];
for (const k of kinds) if (!SWEEP_KINDS.includes(k)) throw new Error(`Unknown kind ${k}`);
const procedures = opts.procedure ? opts.procedure.split(',') : REHEARSABLE;
for (const p of procedures) if (!REHEARSABLE.includes(p)) throw new Error(`${p} cannot run in a local world`);
const timeoutMs = Number(opts.timeout) * 1000;

interface Row {
  readonly procedure: string;
  readonly kind: SweepCase['kind'];
  readonly at: string;
  readonly fired: number;
  readonly status: string;
  readonly verdict: Verdict;
  readonly path: string;
  readonly ms: number;
  /** Task states of the top execution and its children after the first fault (compensation cases). */
  readonly reached: readonly Fault[];
  readonly afterFault: readonly Fault[];
  /** The clean run's flags: what the other runs' `forward` is checked against. */
  readonly forwardFlags?: Record<string, string>;
}

/** One run in a fresh world: setup, the procedure with `faults`, and the verdict on its end. */
async function runCase(
  procedure: string,
  c: SweepCase,
  forward?: Record<string, string>,
  record?: Record<string, TaskOutcome[]>,
): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'switchback-sweep-'));
  const started = Date.now();
  let recording = false;
  const { world, close } = await startRehearsalWorld({
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
              const key = resultKey(world.engine, execution, state);
              record[key] = [...(record[key] ?? []), outcome];
            },
          }
        : {}),
    },
  });
  try {
    const setup = await runSetup(world, procedure).then(
      () => undefined,
      (err: Error) => err.message,
    );
    if (setup !== undefined) {
      // The world could not get ready (a loaded machine): counted as a violation, never hidden.
      return {
        procedure,
        kind: c.kind,
        at: c.at,
        fired: 0,
        status: 'NOT RUN',
        verdict: { endState: 'refused', ok: false, violations: [`setup failed: ${setup}`] },
        path: '',
        ms: Date.now() - started,
        reached: [],
        afterFault: [],
      };
    }
    const before = await readFlags(world);
    recording = true;
    const run = world.engine.start(procedure, defaultInput(world.config.environment, procedure), {
      name: recordedName(procedure),
    });
    const timer = setTimeout(() => world.engine.stop(run.arn, { error: 'SweepTimeout' }), timeoutMs);
    const execution = await run.done;
    clearTimeout(timer);
    const observed = await observe(world, execution);
    const verdict = checkEndState(observed, {
      before,
      forward,
      normalize: (v) => normalizeFlags(world, v),
    });
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
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `tasks` with at most `jobs` at a time, in order of the results. */
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
    `${r.procedure.padEnd(18)} ${r.kind.padEnd(12)} ${r.at.padEnd(58)} ${r.verdict.endState.padEnd(9)} ${r.verdict.ok ? 'ok ' : 'VIOLATION'}${r.fired ? '' : ' (fault not reached)'}  ${(r.ms / 1000).toFixed(1)} s${r.verdict.ok ? '' : `\n${' '.repeat(20)}${r.status}: ${describeVerdict(r.verdict)}`}\n`,
  );

async function main() {
  const started = Date.now();
  const notSweepable = PROCEDURE_NAMES.filter((p) => !REHEARSABLE.includes(p));
  process.stdout.write(
    `Fault-injection sweep: ${procedures.join(', ')}\nkinds ${kinds.join(', ')}; not runnable in a local world: ${notSweepable.join(', ') || 'none'}\n\n`,
  );
  process.stdout.write(
    `${'procedure'.padEnd(18)} ${'fault'.padEnd(12)} ${'at'.padEnd(58)} ${'end state'.padEnd(9)} invariant\n`,
  );
  const rows: Row[] = [];
  const coverage: { procedure: string; tasks: number; reached: number }[] = [];
  if (opts.record) {
    await recordAll(opts.record);
    return;
  }
  for (const procedure of procedures) {
    const clean = await runCase(procedure, { kind: 'none', at: '(clean run)', faults: [] });
    print(clean);
    rows.push(clean);
    const forward = clean.forwardFlags;
    const cases = singleFaultCases(procedure, clean.reached, kinds);
    const first = pointOfNoReturn(procedure, clean.reached);
    coverage.push({
      procedure,
      tasks: cases.filter((c) => c.kind === 'fail').length,
      reached: clean.reached.filter((f) => f.procedure === procedure && !f.parent).length,
    });
    const single = await pool(
      opts.jobs,
      cases.map((c) => async () => {
        const r = await runCase(procedure, c, forward);
        print(r);
        return r;
      }),
    );
    rows.push(...single);
    if (kinds.includes('compensation') && first) {
      const entry = await runCase(procedure, compensationEntry(first), forward);
      print(entry);
      rows.push(entry);
      rows.push(
        ...(await pool(
          opts.jobs,
          compensationCases(first, entry.afterFault).map((c) => async () => {
            const r = await runCase(procedure, c, forward);
            print(r);
            return r;
          }),
        )),
      );
    }
  }
  const bad = rows.filter((r) => !r.verdict.ok);
  const unreached = rows.filter((r) => r.kind !== 'none' && r.fired === 0);
  process.stdout.write('\nCount\n');
  for (const p of procedures) {
    const mine = rows.filter((r) => r.procedure === p);
    const by = (k: string) => mine.filter((r) => r.kind === k).length;
    process.stdout.write(
      `  ${p.padEnd(18)} Task states on the clean path ${coverage.find((c) => c.procedure === p)?.reached ?? 0}; runs: fail ${by('fail')}, once ${by('once')}, after ${by('after')}, compensation ${by('compensation')}; violations ${mine.filter((r) => !r.verdict.ok).length}\n`,
    );
  }
  process.stdout.write(
    `  total ${rows.length} runs (${rows.length - bad.length} consistent, ${bad.length} violations, ${unreached.length} whose fault was not reached) in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
  if (opts.out) writeFileSync(opts.out, `${JSON.stringify(rows, null, 2)}\n`);
  process.exitCode = bad.length ? 1 : 0;
}

/** `--record`: the clean run and the compensation entry of each procedure, their step results kept. */
async function recordAll(dir: string) {
  mkdirSync(dir, { recursive: true });
  for (const procedure of procedures) {
    const results: Record<string, TaskOutcome[]> = {};
    const clean = await runCase(
      procedure,
      { kind: 'none', at: '(clean run)', faults: [] },
      undefined,
      results,
    );
    print(clean);
    const runs: { kind: string; faults: readonly Fault[] }[] = [{ kind: 'clean', faults: [] }];
    const first = pointOfNoReturn(procedure, clean.reached);
    if (first) {
      const entry = compensationEntry(first);
      const extra: Record<string, TaskOutcome[]> = {};
      print(await runCase(procedure, entry, clean.forwardFlags, extra));
      // The clean run's results first: a replay takes them in order, then the compensation's.
      for (const [k, v] of Object.entries(extra)) results[k] = [...(results[k] ?? []), ...v];
      runs.push({ kind: 'compensation', faults: entry.faults });
    }
    const file: Recording = { procedure, execution: recordedName(procedure), runs, results };
    writeFileSync(join(dir, `${procedure}.json`), `${JSON.stringify(file, null, 2)}\n`);
  }
}

main().catch((err: Error) => {
  console.error(`sweep: ${err.stack ?? err.message}`);
  process.exitCode = 2;
});
