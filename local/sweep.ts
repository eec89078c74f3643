/**
 * The fault-injection sweep over the shared protocol, written once for the real-world sweep
 * (`npm run sweep`) and the stubbed one in the test suite: for one procedure, a clean run, then a
 * failure at each Task state the clean run reaches, a once-only transient fault at each (its Retry
 * absorbs it), optionally a fault after each task's side effect, and a second fault at each Task of
 * the compensation (every Task that ran after a failure at the point of no return). Each run's end
 * is judged by the end-state invariant (`local/invariant.ts`).
 */
import { STEP_NAMES } from '../functions';
import { COMPENSATIONS, type ProcedureName } from '../procedures';
import { RESOURCE } from '../procedures/integrations';
import { readDefinitionText, taskStates } from './definitions';
import {
  type ExecutionRecord,
  type Fault,
  type FaultKind,
  functionArn,
  type Integration,
  type LocalEngine,
  type TaskOutcome,
} from './engine';

export type SweepKind = FaultKind | 'compensation';
export const SWEEP_KINDS: readonly SweepKind[] = ['fail', 'once', 'after', 'compensation'];

export interface SweepCase {
  /** `fail`, `once`, `after`, or `compensation` (a first failure plus one inside what it starts). */
  readonly kind: SweepKind | 'none';
  /** Where the fault is, `procedure:State` (the second one for a compensation case). */
  readonly at: string;
  readonly faults: readonly Fault[];
}

/**
 * `procedure:State` of every Task entered by `execution` and its nested executions, each once.
 * With `after`, only those entered after the step of that name failed (its first failure): the
 * later steps of the execution, and the nested executions its later steps started.
 */
export function tasksReached(engine: LocalEngine, execution: ExecutionRecord, after?: string): Fault[] {
  const out: Fault[] = [];
  const seen = new Set<string>();
  const visit = (e: ExecutionRecord, parent: string | undefined, from: number) => {
    const starters = new Set(
      taskStates(JSON.parse(readDefinitionText(e.procedure)))
        .filter((t) => t.resource === RESOURCE.startExecutionSync)
        .map((t) => t.name),
    );
    // The k-th nested execution was started by the k-th entry into a startExecution task.
    const children = engine.executions.filter((c) => c.parentArn === e.arn);
    let k = 0;
    e.steps.forEach((s, i) => {
      const child = starters.has(s.state) ? children[k++] : undefined;
      if (i < from) return;
      const key = `${parent ?? ''}>${e.procedure}:${s.state}`;
      if (s.type === 'Task' && !seen.has(key)) {
        seen.add(key);
        out.push({ procedure: e.procedure, state: s.state, ...(parent ? { parent } : {}) });
      }
      if (child) visit(child, e.procedure, 0);
    });
  };
  const failedAt = after === undefined ? -1 : execution.steps.findIndex((s) => s.state === after && s.error);
  visit(execution, undefined, failedAt + 1);
  return out;
}

const label = (f: Fault) => `${f.parent ? `${f.parent}>` : ''}${f.procedure}:${f.state}`;

/** Single-fault cases at each Task of `procedure` that its clean run reached. */
export function singleFaultCases(
  procedure: string,
  reached: readonly Fault[],
  kinds: readonly SweepKind[],
): SweepCase[] {
  const own = reached.filter((f) => f.procedure === procedure && f.parent === undefined);
  return (['fail', 'once', 'after'] as const)
    .filter((k) => kinds.includes(k))
    .flatMap((kind) =>
      own.map((f) => ({
        kind,
        at: label(f),
        faults: [{ procedure, state: f.state, ...(kind === 'fail' ? {} : { kind }) }],
      })),
    );
}

/**
 * The first fault of the compensation cases: the point of no return (`COMPENSATIONS[procedure].from`)
 * fails after its task ran, so the compensation has a real change to undo. Undefined for
 * procedures without one, or when the clean run did not reach it.
 */
export function pointOfNoReturn(procedure: string, reached: readonly Fault[]): Fault | undefined {
  const c = COMPENSATIONS[procedure as ProcedureName];
  if (!c) return undefined;
  const own = reached.filter((f) => f.procedure === procedure && f.parent === undefined);
  return own.some((f) => f.state === c.from) ? { procedure, state: c.from, kind: 'after' } : undefined;
}

/** The first fault alone: the run whose compensation the second faults go into. */
export function compensationEntry(first: Fault): SweepCase {
  return { kind: 'compensation', at: `${label(first)} (after its task)`, faults: [first] };
}

/**
 * Second-fault cases: the first fault, plus a failure at each Task that ran after it in the run of
 * `compensationEntry` (the compensation: a nested rollback, or the hold itself).
 */
export function compensationCases(first: Fault, compensation: readonly Fault[]): SweepCase[] {
  return compensation
    .filter(
      (f) => f.procedure !== 'lock-janitor' && !(f.procedure === first.procedure && f.state === first.state),
    )
    .map((f) => ({ kind: 'compensation' as const, at: `${label(first)} + ${label(f)}`, faults: [first, f] }));
}

/**
 * What a procedure's steps returned in real runs, replayed by the stubbed sweep: each Task's own
 * result (before ResultSelector), by `parent>procedure:State`, in the order they ran. Recorded by
 * `npm run sweep -- --record` from a clean run and the compensation entry run, both under the
 * execution name `RECORDED_NAME`, so the owner the recorded input step returned is the ARN
 * the replay runs under.
 */
export interface Recording {
  readonly procedure: string;
  readonly execution: string;
  readonly runs: readonly { readonly kind: string; readonly faults: readonly Fault[] }[];
  readonly results: Readonly<Record<string, readonly TaskOutcome[]>>;
}

export const recordedName = (procedure: string) => `${procedure}-sweep`;

/** The key of a Task's recorded results: `parent>procedure:State`. */
export function resultKey(engine: LocalEngine, execution: ExecutionRecord, state: string): string {
  const parent = execution.parentArn
    ? engine.executions.find((e) => e.arn === execution.parentArn)?.procedure
    : undefined;
  return `${parent ?? ''}>${execution.procedure}:${state}`;
}

/**
 * A Task integration that replays a recording instead of running the steps: every Lambda step,
 * ECS data task and callback task returns (or throws) what it did in the recorded run, in order
 * per `parent>procedure:State`, the last result repeated. A Task no recorded run reached (a
 * compensation's hold, say) replays the last successful result of the same step at another state
 * (of the same procedure when there is one, else of a donor recording): the same shape, recorded
 * for real. DynamoDB, SNS and nested executions stay
 * the engine's own. A Task with neither throws `UnrecordedStepError` and is listed in `unrecorded`.
 */
export function replaying(
  recording: Recording,
  environment: string,
  /** Other procedures' recordings, for a step this recording never ran at all. */
  donors: readonly Recording[] = [],
): { readonly integration: Integration; readonly unrecorded: string[] } {
  const stubbed = new Set<string>([
    ...STEP_NAMES.map((s) => functionArn(environment, s)),
    RESOURCE.ecsRunTaskSync,
    RESOURCE.lambdaInvokeWaitForTaskToken,
  ]);
  const resourceOf = (procedure: string, state: string) =>
    taskStates(JSON.parse(readDefinitionText(procedure))).find((t) => t.name === state)?.resource;
  const calls = new Map<string, number>();
  const unrecorded: string[] = [];
  /** The last successful result of the same step at another recorded state (this procedure's first). */
  const sameStep = (procedure: string, state: string): TaskOutcome | undefined => {
    const resource = resourceOf(procedure, state);
    if (resource === undefined || resource === RESOURCE.lambdaInvokeWaitForTaskToken) return undefined;
    const candidates = [recording, ...donors]
      .flatMap((r) => Object.entries(r.results))
      .map(([key, list]) => ({ at: (key.split('>')[1] ?? '').split(':') as [string, string], list }))
      .filter(({ at: [p, s] }) => resourceOf(p, s) === resource)
      .sort((a, b) => Number(b.at[0] === procedure) - Number(a.at[0] === procedure));
    for (const { list } of candidates) {
      const ok = [...list].reverse().find((o) => 'result' in o);
      if (ok) return ok;
    }
    return undefined;
  };
  return {
    unrecorded,
    integration: {
      matches: (resource) => stubbed.has(resource),
      async run(_input, ctx) {
        const key = resultKey(ctx.engine, ctx.execution, ctx.state);
        const list = recording.results[key] ?? [];
        const i = calls.get(key) ?? 0;
        calls.set(key, i + 1);
        const outcome = list[Math.min(i, list.length - 1)] ?? sameStep(ctx.execution.procedure, ctx.state);
        if (!outcome) {
          unrecorded.push(key);
          throw Object.assign(new Error(`No recorded result for ${key}`), { name: 'UnrecordedStepError' });
        }
        if ('error' in outcome)
          throw Object.assign(new Error(outcome.error.message), { name: outcome.error.name });
        return structuredClone(outcome.result);
      },
    },
  };
}
