import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { allStates, PROCEDURES, type ProcedureName } from '../procedures';
import { INTEGRATION } from '../procedures/integrations';
import type { Palette } from './palette';

/**
 * One renderer for executions, shared by the rehearsal (local engine events) and the AWS commands
 * (`GetExecutionHistory` events): each state with its duration and what it found, nested
 * executions indented, failures in red with what they led to.
 */
export type StepEventKind = 'started' | 'exited' | 'caught' | 'retried' | 'failed' | 'ended';

export interface StepEvent {
  readonly kind: StepEventKind;
  readonly procedure: string;
  readonly execution: string;
  readonly depth: number;
  readonly state?: string;
  readonly stateType?: string;
  readonly durationMs?: number;
  /** The state's output (the whole document, after ResultPath). */
  readonly output?: unknown;
  /** The execution input (for `started`): what started it and why. */
  readonly input?: unknown;
  readonly error?: string;
  readonly cause?: string;
  /** For `ended`: the execution status. */
  readonly status?: string;
}

export interface Finding {
  readonly text: string;
  /** A failing gate or check: shown in red. */
  readonly bad: boolean;
}

/** `$.a.b` of `doc`; undefined for `null` (discarded) or paths it cannot follow. */
export function at(doc: unknown, path: string | null | undefined): unknown {
  if (path === null) return undefined;
  if (path === undefined || path === '$') return doc;
  let cur: unknown = doc;
  for (const part of path.replace(/^\$\.?/, '').split('.')) {
    if (!part) continue;
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** A state's definition in the registry (undefined for a procedure or state it does not have). */
export function stateDefinition(procedure: string, state: string): Record<string, unknown> | undefined {
  const definition = PROCEDURES[procedure as ProcedureName];
  return definition ? allStates(definition.States).find(([name]) => name === state)?.[1] : undefined;
}

const resultPaths = new Map<string, { path: string | null | undefined } | undefined>();
/**
 * Where a Task state puts its step's result, from the registry's definition; undefined for other
 * states and for nested executions (their own states say what they found).
 */
function resultPathOf(procedure: string, state: string): { path: string | null | undefined } | undefined {
  const key = `${procedure}:${state}`;
  if (!resultPaths.has(key)) {
    const definition = PROCEDURES[procedure as ProcedureName];
    const found = definition ? allStates(definition.States).find(([name]) => name === state)?.[1] : undefined;
    const isStep = found?.Type === 'Task' && !INTEGRATION.startExecution.test(String(found.Resource ?? ''));
    resultPaths.set(key, isStep ? { path: found.ResultPath as string | null | undefined } : undefined);
  }
  return resultPaths.get(key);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

function flagText(flag: unknown): string {
  if (!isObj(flag)) return '';
  if (!flag.enabled) return 'flag off';
  const list = Array.isArray(flag.allowList) ? flag.allowList.length : 0;
  return `flag on ${String(flag.percentage ?? 0)} %${list ? ` + allow-list (${list})` : ''}`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** What a state found, read from its result. Undefined when there is nothing worth a word. */
export function findingOf(procedure: string, state: string, output: unknown): Finding | undefined {
  const where = resultPathOf(procedure, state);
  if (!where) return undefined;
  const r = at(output, where.path);
  if (!isObj(r)) return undefined;
  const ok = (text: string): Finding => ({ text, bad: false });
  // A rollout gate evaluation: its verdict, the count of failures in a row and each failing signal.
  if (typeof r.verdict === 'string' && typeof r.decision === 'string') {
    const signals = Array.isArray(r.signals) ? r.signals.filter(isObj) : [];
    const against = signals
      .map(
        (x) =>
          `${String(x.signal)} ${x.value === null ? 'no data' : Number(Number(x.value).toFixed(3))}${x.limit === null ? '' : ` (limit ${String(x.limit)})`}${x.status === 'fail' ? ' FAIL' : ''}`,
      )
      .join(', ');
    return {
      text: `gate ${r.verdict} (evaluation ${String(r.evaluation)}, ${String(r.consecutiveFailures)} failed in a row) -> ${r.decision}${against ? `: ${against}` : `: ${String(r.summary ?? '')}`}`,
      bad: r.verdict === 'fail' || r.decision === 'roll-back',
    };
  }
  // A database gate or check with a verdict and a summary.
  if (typeof r.passed === 'boolean' && typeof r.summary === 'string')
    return { text: `${r.passed ? 'passed' : 'FAILED'}: ${r.summary}`, bad: !r.passed };
  // A rollout phase starting: the step names it, the cursor holds its plan.
  const cursorPhase = at(output, '$.cursor.phase');
  if (typeof r.name === 'string' && num(r.flagVersion) !== undefined && isObj(cursorPhase)) {
    const total = num(at(output, '$.request.phaseCount'));
    const phase = cursorPhase;
    return ok(
      `phase ${(num(r.index) ?? 0) + 1}${total ? `/${total}` : ''} ${String(phase.name)}: ${flagText(phase.flag)}, bake ${String(phase.bakeSeconds)} s`,
    );
  }
  // The migration: points done of the total, and the rate.
  if (isObj(r.counts) && typeof r.done === 'boolean') {
    const c = r.counts;
    const done = (num(c.succeeded) ?? 0) + (num(c.failed) ?? 0) + (num(c.skipped) ?? 0);
    const seconds = num(r.activeSeconds) ?? num(r.durationSeconds) ?? 0;
    const rate = seconds > 0 ? `, ${Math.round((num(c.succeeded) ?? 0) / seconds)} points/s` : '';
    return ok(
      `${done}/${String(c.total)} points (${String(c.succeeded)} written, ${String(c.failed ?? 0)} failed, ${String(c.skipped ?? 0)} skipped)${rate}${r.done ? ', done' : ''}`,
    );
  }
  // A backup.
  if (typeof r.sha256 === 'string' && num(r.sizeBytes) !== undefined)
    return ok(
      `${bytes(num(r.sizeBytes) ?? 0)}, sha256 ${r.sha256.slice(0, 12)}..., verified ${r.verified ? 'yes' : 'no'}`,
    );
  // What the app served in a rollout phase.
  if (Array.isArray(r.checks) && num(r.servedAfterMs) !== undefined) {
    const passed = r.checks.filter((c) => isObj(c) && c.ok === true).length;
    return {
      text: `served after ${String(r.servedAfterMs)} ms, ${passed}/${r.checks.length} checks pass`,
      bad: passed !== r.checks.length,
    };
  }
  if (typeof r.stable === 'boolean')
    return {
      text: `${r.stable ? 'stable' : 'not stable yet'}: ${String(r.runningCount)}/${String(r.desiredCount)} running, ${String(r.rolloutState)}`,
      bad: false,
    };
  if (typeof r.recalled === 'boolean')
    return {
      text: `write + recall ${r.recalled ? 'ok' : 'FAILED'} (${String(r.latencyMs)} ms)`,
      bad: !r.recalled,
    };
  if (typeof r.target === 'string' && typeof r.status === 'string')
    return ok(
      `${r.target} ${r.status}${r.provider ? `, provider ${String(r.provider)}` : ''} (${String(r.latencyMs)} ms)`,
    );
  if (typeof r.changeId === 'string' && isObj(r.previous))
    return ok(
      `change ${r.changeId}: was ${Object.entries(r.previous)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ')}`,
    );
  if (typeof r.summary === 'string') return ok(r.summary);
  return undefined;
}

/** Why a nested execution runs: the trigger its parent passed (a rollback after a failure). */
function startedBecause(input: unknown): string | undefined {
  const trigger = isObj(input) ? input.trigger : undefined;
  if (!isObj(trigger) || typeof trigger.error !== 'string') return undefined;
  return `because ${trigger.error}${typeof trigger.cause === 'string' ? `: ${trigger.cause}` : ''}`;
}

export interface RenderOptions {
  /** Durations in the lines (off to compare renderings of different runs). @default true */
  readonly durations?: boolean;
}

/** One line per event worth a line; undefined for the others. */
export function renderEvent(e: StepEvent, c: Palette, o: RenderOptions = {}): string | undefined {
  const indent = '  '.repeat(e.depth + 1);
  const ms =
    o.durations === false || e.durationMs === undefined
      ? ''
      : c.dim(`${String(e.durationMs).padStart(6)} ms`);
  switch (e.kind) {
    case 'started': {
      const label = e.procedure === 'lock-janitor' ? 'lock janitor (execution status change)' : e.procedure;
      const why = startedBecause(e.input);
      return `${indent.slice(2)}${c.cyan(label)} ${c.dim(e.execution)}${why ? ` ${c.yellow(why)}` : ''}`;
    }
    case 'exited': {
      if (e.stateType === 'Choice' || e.stateType === 'Pass') return undefined;
      if (e.stateType === 'Fail') return `${indent}${c.red('x')} ${e.state}`;
      const found = e.state ? findingOf(e.procedure, e.state, e.output) : undefined;
      const text = found ? `  ${found.bad ? c.red(found.text) : found.text}` : '';
      const mark = found?.bad ? c.red('!') : c.green('+');
      return `${indent}${mark} ${String(e.state).padEnd(34)} ${ms}${text}`.trimEnd();
    }
    case 'retried':
      return `${indent}${c.yellow('~')} ${String(e.state).padEnd(34)} retry${e.error ? ` after ${e.error}` : ''}`;
    case 'caught':
      return `${indent}${c.red('x')} ${String(e.state).padEnd(34)} ${ms}  ${c.red(e.error ?? '')} -> caught`;
    case 'failed':
      return `${indent}${c.red('x')} ${e.state ?? ''}  ${c.red(e.error ?? '')}`;
    case 'ended':
      return undefined;
  }
}

const STATE_TYPES: Record<string, string> = {
  Task: 'Task',
  Choice: 'Choice',
  Pass: 'Pass',
  Wait: 'Wait',
  Succeed: 'Succeed',
  Fail: 'Fail',
  Map: 'Map',
  Parallel: 'Parallel',
};

/** A history event's JSON field (input, output); the text itself when it is not JSON. */
export function parseHistoryJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Step events from an execution's `GetExecutionHistory` events (oldest first). A Task that failed
 * and went on to another state was caught; one scheduled again was retried; the procedure comes
 * from the state machine's name (`switchback-<env>-<procedure>`).
 */
export function fromHistory(
  history: readonly HistoryEvent[],
  o: { readonly procedure: string; readonly execution: string; readonly depth?: number },
): StepEvent[] {
  const out: StepEvent[] = [];
  const base = { procedure: o.procedure, execution: o.execution, depth: o.depth ?? 0 };
  const entered = new Map<string, { at: number; type: string }>();
  let current: string | undefined;
  let failure: { error?: string; cause?: string } | undefined;
  const time = (e: HistoryEvent) => (e.timestamp ? new Date(e.timestamp).getTime() : 0);
  for (const e of history) {
    const type = e.type ?? '';
    if (type === 'ExecutionStarted') {
      out.push({ ...base, kind: 'started', input: parseHistoryJson(e.executionStartedEventDetails?.input) });
      continue;
    }
    const enteredMatch = /^(\w+?)StateEntered$/.exec(type);
    if (enteredMatch) {
      const name = e.stateEnteredEventDetails?.name ?? '';
      if (failure && current && current !== name) {
        const start = entered.get(current);
        out.push({
          ...base,
          kind: 'caught',
          state: current,
          stateType: start?.type,
          durationMs: start ? time(e) - start.at : undefined,
          ...failure,
        });
      }
      failure = undefined;
      current = name;
      entered.set(name, { at: time(e), type: STATE_TYPES[enteredMatch[1] ?? ''] ?? enteredMatch[1] ?? '' });
      continue;
    }
    if (/^(\w+?)StateExited$/.test(type)) {
      const name = e.stateExitedEventDetails?.name ?? '';
      const start = entered.get(name);
      if (!failure)
        out.push({
          ...base,
          kind: 'exited',
          state: name,
          stateType: start?.type,
          durationMs: start ? time(e) - start.at : undefined,
          output: parseHistoryJson(e.stateExitedEventDetails?.output),
        });
      continue;
    }
    if (type === 'TaskFailed' || type === 'LambdaFunctionFailed' || type === 'TaskTimedOut') {
      const d = e.taskFailedEventDetails ?? e.lambdaFunctionFailedEventDetails ?? e.taskTimedOutEventDetails;
      failure = { error: d?.error, cause: d?.cause };
      continue;
    }
    if ((type === 'TaskScheduled' || type === 'LambdaFunctionScheduled') && failure && current) {
      out.push({ ...base, kind: 'retried', state: current, error: failure.error });
      failure = undefined;
      continue;
    }
    if (type === 'ExecutionFailed') {
      const d = e.executionFailedEventDetails;
      const start = current ? entered.get(current) : undefined;
      out.push({
        ...base,
        kind: 'failed',
        state: current,
        stateType: start?.type,
        error: d?.error,
        cause: d?.cause,
      });
      out.push({ ...base, kind: 'ended', status: 'FAILED', error: d?.error, cause: d?.cause });
      continue;
    }
    if (type === 'ExecutionSucceeded') out.push({ ...base, kind: 'ended', status: 'SUCCEEDED' });
    if (type === 'ExecutionAborted')
      out.push({ ...base, kind: 'ended', status: 'ABORTED', error: e.executionAbortedEventDetails?.error });
    if (type === 'ExecutionTimedOut') out.push({ ...base, kind: 'ended', status: 'TIMED_OUT' });
  }
  return out;
}
