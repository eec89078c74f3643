/**
 * The fault-injection sweep over the shared protocol, written once for the sweep over real
 * processes (`npm run sweep`) and the stubbed one in the test suite (`test/protocol-sweep.test.ts`):
 * for one procedure, a clean run, then a failure at each Task state the clean run reaches, a
 * once-only transient fault at each (its Retry absorbs it), optionally a fault after each task's
 * side effect, and a second fault at each Task of the compensation (every Task that ran after a
 * failure at the point of no return). The faults are the engine's own (`Fault` in
 * `local/engine.ts`); each run's end is judged by the end-state invariant (`local/invariant.ts`).
 */
import { STEP_NAMES, type StepName } from '../functions';
import { COMPENSATIONS, type ProcedureName } from '../procedures';
import { RESOURCE } from '../procedures/integrations';
import { readDefinitionText, type TaskState, taskStates } from './definitions';
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

const TASKS = new Map<string, TaskState[]>();
/** The Task states of a generated definition (as rendered in `statemachines/`), read once. */
function tasksOf(procedure: string): TaskState[] {
  let tasks = TASKS.get(procedure);
  if (!tasks) {
    tasks = taskStates(JSON.parse(readDefinitionText(procedure)));
    TASKS.set(procedure, tasks);
  }
  return tasks;
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
      tasksOf(e.procedure)
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

/** `parent>procedure:State` of a fault, as rows and recordings name it. */
export const faultLabel = (f: Fault) => `${f.parent ? `${f.parent}>` : ''}${f.procedure}:${f.state}`;

/** Task states of `procedure` itself that a run reached (not those of its nested executions). */
export const ownTasks = (procedure: string, reached: readonly Fault[]) =>
  reached.filter((f) => f.procedure === procedure && f.parent === undefined);

/**
 * Single-fault cases at each Task of `procedure` that its clean run reached; with `nested`, also
 * at each Task its nested executions reached (the backups a cutover takes, the rollback the router
 * starts), each fault qualified by the procedure that started the execution.
 */
export function singleFaultCases(
  procedure: string,
  reached: readonly Fault[],
  kinds: readonly SweepKind[],
  o: { readonly nested?: boolean } = {},
): SweepCase[] {
  const at = o.nested ? reached : ownTasks(procedure, reached);
  return (['fail', 'once', 'after'] as const)
    .filter((k) => kinds.includes(k))
    .flatMap((kind) =>
      at.map((f) => ({
        kind,
        at: faultLabel(f),
        faults: [{ ...f, ...(kind === 'fail' ? {} : { kind }) }],
      })),
    );
}

/** Whether a fault's state retries its errors: a once-only fault there must be absorbed. */
export const hasRetry = (f: Fault): boolean =>
  tasksOf(f.procedure).some((t) => t.name === f.state && t.definition.Retry !== undefined);

/**
 * The first fault of the compensation cases: the point of no return (`COMPENSATIONS[procedure].from`)
 * fails after its task ran, so the compensation has a real change to undo. Undefined for
 * procedures without one, or when the clean run did not reach it.
 */
export function pointOfNoReturn(procedure: string, reached: readonly Fault[]): Fault | undefined {
  const c = COMPENSATIONS[procedure as ProcedureName];
  if (!c) return undefined;
  return ownTasks(procedure, reached).some((f) => f.state === c.from)
    ? { procedure, state: c.from, kind: 'after' }
    : undefined;
}

/** The first fault alone: the run whose compensation the second faults go into. */
export function compensationEntry(first: Fault): SweepCase {
  return { kind: 'compensation', at: `${faultLabel(first)} (after its task)`, faults: [first] };
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
    .map((f) => ({
      kind: 'compensation' as const,
      at: `${faultLabel(first)} + ${faultLabel(f)}`,
      faults: [first, f],
    }));
}

/**
 * What a procedure's steps returned in real runs, replayed by the stubbed sweep: each Task's own
 * result (before ResultSelector), by `parent>procedure:State`, in the order they ran, and the flag
 * values right before the run. Recorded by `npm run sweep -- --record` from a clean run and the
 * compensation entry run, both under the execution name `recordedName`, so the owner the recorded
 * input step returned is the ARN the replay runs under. The world's endpoints are written as
 * `ENDPOINT_TOKENS` (each run has its own ports); `readRecording` puts the replay's in.
 */
export interface Recording {
  readonly procedure: string;
  readonly execution: string;
  readonly runs: readonly { readonly kind: string; readonly faults: readonly Fault[] }[];
  readonly before: Readonly<Record<string, string>>;
  readonly results: Readonly<Record<string, readonly TaskOutcome[]>>;
}

export const recordedName = (procedure: string) => `${procedure}-sweep`;

export const ENDPOINT_TOKENS = { api: '<api>', sidecar: '<sidecar>' } as const;
type Endpoints = { readonly api: string; readonly sidecar: string };

/** A recording as a file's text, its endpoints replaced by `ENDPOINT_TOKENS`. */
export function recordingText(recording: Recording, endpoints: Endpoints): string {
  return `${JSON.stringify(recording, null, 2)
    .split(endpoints.sidecar)
    .join(ENDPOINT_TOKENS.sidecar)
    .split(endpoints.api)
    .join(ENDPOINT_TOKENS.api)}\n`;
}

/** A recording file's text with the replay's endpoints in place of `ENDPOINT_TOKENS`. */
export function readRecording(text: string, endpoints: Endpoints): Recording {
  return JSON.parse(
    text
      .split(ENDPOINT_TOKENS.sidecar)
      .join(endpoints.sidecar)
      .split(ENDPOINT_TOKENS.api)
      .join(endpoints.api),
  ) as Recording;
}

/** The key of a Task's recorded results: `parent>procedure:State`. */
export function resultKey(engine: LocalEngine, execution: ExecutionRecord, state: string): string {
  const parent = execution.parentArn
    ? engine.executions.find((e) => e.arn === execution.parentArn)?.procedure
    : undefined;
  return `${parent ?? ''}>${execution.procedure}:${state}`;
}

/** Raised by a replayed Task no recording has a result for. */
export class UnrecordedStepError extends Error {
  override readonly name = 'UnrecordedStepError';
}

/**
 * A Task integration that replays a recording instead of running the steps: every Lambda step
 * (but the `live` ones, which the engine runs for real on its own dependencies), ECS data task and
 * callback task returns (or throws) what it did in the recorded run, in order per
 * `parent>procedure:State`, the last result repeated. A Task no recorded run reached (a
 * compensation's hold, say) replays the last successful result of the same step at another state
 * (of the same procedure when there is one, else of a donor recording): the same shape, recorded
 * for real. DynamoDB, SNS and nested executions stay the engine's own. A Task with neither throws
 * `UnrecordedStepError` and is listed in `unrecorded`. `onStep` hears each replayed Lambda step
 * that returned, with its input (how a model of the world follows a restart).
 */
export function replaying(
  recording: Recording,
  environment: string,
  o: {
    /** Other procedures' recordings, for a step this recording never ran at all. */
    readonly donors?: readonly Recording[];
    /** Steps the engine runs for real (on the dependencies it was given). */
    readonly live?: readonly StepName[];
    readonly onStep?: (step: StepName, input: unknown) => void;
  } = {},
): { readonly integration: Integration; readonly unrecorded: string[] } {
  const steps = new Map(
    STEP_NAMES.filter((s) => !o.live?.includes(s)).map((s) => [functionArn(environment, s), s]),
  );
  const stubbed = new Set<string>([
    ...steps.keys(),
    RESOURCE.ecsRunTaskSync,
    RESOURCE.lambdaInvokeWaitForTaskToken,
  ]);
  const resourceOf = (procedure: string, state: string) =>
    tasksOf(procedure).find((t) => t.name === state)?.resource;
  const calls = new Map<string, number>();
  const unrecorded: string[] = [];
  const recordings = [recording, ...(o.donors ?? [])];
  /** The last successful result of the same step at another recorded state (this procedure's first). */
  const sameStep = (procedure: string, state: string): TaskOutcome | undefined => {
    const resource = resourceOf(procedure, state);
    if (resource === undefined || resource === RESOURCE.lambdaInvokeWaitForTaskToken) return undefined;
    const candidates = recordings
      .flatMap((r) => Object.entries(r.results))
      .map(([key, list]) => ({ at: (key.split('>')[1] ?? '').split(':') as [string, string], list }))
      .filter(({ at: [p, s] }) => resourceOf(p, s) === resource)
      .sort((a, b) => Number(b.at[0] === procedure) - Number(a.at[0] === procedure));
    for (const { list } of candidates) {
      const ok = [...list].reverse().find((x) => 'result' in x);
      if (ok) return ok;
    }
    return undefined;
  };
  return {
    unrecorded,
    integration: {
      matches: (resource) => stubbed.has(resource),
      async run(input, ctx) {
        const key = resultKey(ctx.engine, ctx.execution, ctx.state);
        const list = recording.results[key] ?? [];
        const i = calls.get(key) ?? 0;
        calls.set(key, i + 1);
        const outcome = list[Math.min(i, list.length - 1)] ?? sameStep(ctx.execution.procedure, ctx.state);
        if (!outcome) {
          unrecorded.push(key);
          throw new UnrecordedStepError(`No recorded result for ${key}`);
        }
        if ('error' in outcome)
          throw Object.assign(new Error(outcome.error.message), { name: outcome.error.name });
        const step = steps.get(ctx.resource);
        if (step) o.onStep?.(step, input);
        return structuredClone(outcome.result);
      },
    },
  };
}
