import { DRILL_LIMITS } from '../functions/shared/drill-config';
/**
 * Time budgets, computed from the definitions: the longest a procedure can run on its worst path,
 * so that every execution's `TimeoutSeconds` covers its children and its tasks, and no parent gives
 * up on a child before the child's own timeout would end it.
 *
 * The model, per state:
 * - a Task costs its `TimeoutSeconds` (a nested execution: the child's `TimeoutSeconds`, or the
 *   Task's if lower); a retrier of the integration's transient errors (`RETRY.*`: the call was
 *   refused, nothing ran) adds only its waits; any other retrier adds a whole attempt per retry;
 * - a Wait costs its `Seconds`, or the bound given for its `SecondsPath`;
 * - a Map costs its items (the bound for its `ItemsPath`) over `MaxConcurrency` times its processor,
 *   a Parallel its longest branch;
 * - a loop (a cycle of states) costs its iterations times one pass through every state in it; the
 *   iterations are the bound given for the `SecondsPath` of the Wait inside it. A loop with no bound
 *   is refused: nothing here can say how long it runs.
 * The worst path is the longest path through the graph of Next, Choices, Default and Catch.
 */
import {
  MAX_APPROVAL_TIMEOUT_SECONDS,
  MAX_EVALUATIONS,
  MAX_TOTAL_SECONDS,
} from '../functions/shared/rollout-plan';
import type { AslState, Definition, Retrier, States } from './asl';
import { RETRY } from './asl';
import { INTEGRATION, PLACEHOLDER, stateMachinePlaceholder } from './integrations';

/** What the definitions leave to the input: each is a bound the input is validated against. */
export interface BudgetBounds {
  /** Seconds a Wait's `SecondsPath` (or a callback Task's `TimeoutSecondsPath`) resolves to, at most. */
  readonly seconds: Readonly<Record<string, number>>;
  /** Iterations of the loop around a Wait with this `SecondsPath`, at most. */
  readonly iterations: Readonly<Record<string, number>>;
  /**
   * A loop whose whole time the input validation bounds (a rollout's bakes and approvals), by the
   * `SecondsPath` of its Wait: its timers cost `seconds` in all; the loop around that Wait runs at
   * most `iterations` times, the rest of the loop (once per phase) at most `passes` times.
   */
  readonly timers: Readonly<Record<string, { readonly seconds: number; readonly passes: number }>>;
  /**
   * Iterations of a loop the definition itself does not bound, by `<procedure>:<state>` of a state
   * in it: an allowance the procedure's timeout is sized for, not a guarantee.
   */
  readonly loops?: Readonly<Record<string, number>>;
  /** Items of a Map's `ItemsPath`, at most. */
  readonly items: Readonly<Record<string, number>>;
  /** Seconds a step may run, by its `${<Step>FunctionArn}` placeholder, when lower than its Task's. */
  readonly steps?: Readonly<Record<string, number>>;
}

export class BudgetError extends Error {
  override readonly name = 'BudgetError';
}

/**
 * What one request-response service call (DynamoDB, SNS, an SDK call) is budgeted, seconds: a
 * generous allowance for an API answer, not a documented limit.
 */
export const API_CALL_SECONDS = 60;

/** The transient-error retriers (the call was refused: nothing ran, only the wait counts). */
const TRANSIENT = new Set(Object.values(RETRY).map((r) => JSON.stringify(r.ErrorEquals)));

/** The longest all retries of one retrier wait, without jitter. */
function retryWaits(r: Retrier): number {
  const attempts = r.MaxAttempts ?? 3;
  const interval = r.IntervalSeconds ?? 1;
  const rate = r.BackoffRate ?? 2;
  let total = 0;
  for (let i = 0; i < attempts; i++) total += interval * rate ** i;
  return Math.ceil(total);
}

/** Resolves child procedures by the `${<Name>StateMachineArn}` a nested execution names. */
export type ChildLookup = (
  placeholder: string,
) => readonly [name: string, definition: Definition] | undefined;

export interface Budget {
  /** Worst path through the whole definition, seconds. */
  readonly worstSeconds: number;
  /** The path that costs it, state by state (nested states as `Map/State`). */
  readonly path: readonly string[];
}

/** Worst-path seconds of a definition. */
export function worstCase(
  name: string,
  definition: Pick<Definition, 'StartAt' | 'States'>,
  bounds: BudgetBounds,
  child: ChildLookup,
): Budget {
  return graph(name, definition.StartAt, definition.States, bounds, child, '');
}

function bound(
  table: Readonly<Record<string, number>>,
  key: string,
  procedure: string,
  state: string,
  what: string,
): number {
  const value = table[key];
  if (value === undefined) {
    throw new BudgetError(
      `Procedure ${procedure}: state "${state}" ${what} ${key}, which has no bound: its time cannot be budgeted`,
    );
  }
  return value;
}

function stateCost(
  procedure: string,
  name: string,
  state: AslState,
  bounds: BudgetBounds,
  child: ChildLookup,
  prefix: string,
): number {
  const at = `${prefix}${name}`;
  switch (state.Type) {
    case 'Wait': {
      if (typeof state.Seconds === 'number') return state.Seconds;
      if (typeof state.SecondsPath === 'string')
        return bound(bounds.seconds, state.SecondsPath, procedure, at, 'waits for');
      throw new BudgetError(
        `Procedure ${procedure}: state "${at}" waits for a timestamp: its time cannot be budgeted`,
      );
    }
    case 'Map': {
      const processor = state.ItemProcessor as { StartAt: string; States: States } | undefined;
      if (!processor) return 0;
      const items = bound(bounds.items, String(state.ItemsPath), procedure, at, 'maps over');
      const concurrency =
        typeof state.MaxConcurrency === 'number' && state.MaxConcurrency > 0 ? state.MaxConcurrency : items;
      const inner = graph(procedure, processor.StartAt, processor.States, bounds, child, `${at}/`);
      return Math.ceil(items / concurrency) * inner.worstSeconds;
    }
    case 'Parallel': {
      const branches = (state.Branches as { StartAt: string; States: States }[] | undefined) ?? [];
      return Math.max(
        0,
        ...branches.map((b) => graph(procedure, b.StartAt, b.States, bounds, child, `${at}/`).worstSeconds),
      );
    }
    case 'Task':
      return taskCost(procedure, at, state, bounds, child);
    default:
      return 0;
  }
}

function taskCost(
  procedure: string,
  at: string,
  state: AslState,
  bounds: BudgetBounds,
  child: ChildLookup,
): number {
  const resource = String(state.Resource);
  const own = typeof state.TimeoutSeconds === 'number' ? state.TimeoutSeconds : undefined;
  let runs: number | undefined = own;
  if (typeof state.TimeoutSecondsPath === 'string') {
    runs = bound(bounds.seconds, state.TimeoutSecondsPath, procedure, at, 'waits for');
  }
  const start = INTEGRATION.startExecution.exec(resource);
  if (start?.[1]) {
    const arn = (state.Parameters as { StateMachineArn?: unknown } | undefined)?.StateMachineArn;
    const placeholder = typeof arn === 'string' ? [...arn.matchAll(PLACEHOLDER)][0]?.[1] : undefined;
    const found = placeholder ? child(placeholder) : undefined;
    if (!found)
      throw new BudgetError(
        `Procedure ${procedure}: state "${at}" starts ${String(arn)}, a procedure not known here`,
      );
    // The child ends by its worst path, or by its own timeout, whichever is first.
    const [childName, definition] = found;
    const worst = worstCase(childName, definition, bounds, child).worstSeconds;
    runs = Math.min(runs ?? Number.POSITIVE_INFINITY, worst, definition.TimeoutSeconds);
  }
  // A request-response call of a service (no .sync, no callback) ends when the API answers.
  if (
    runs === undefined &&
    /^arn:aws:states:::[a-z-]+(:[a-zA-Z]+)+$/.test(resource) &&
    !/\.sync|waitForTaskToken/.test(resource)
  ) {
    runs = API_CALL_SECONDS;
  }
  const step = /^\$\{([A-Za-z0-9_]+)\}$/.exec(resource)?.[1];
  const stepLimit = step ? bounds.steps?.[step] : undefined;
  if (stepLimit !== undefined) runs = Math.min(runs ?? stepLimit, stepLimit);
  if (runs === undefined) {
    throw new BudgetError(
      `Procedure ${procedure}: state "${at}" has no TimeoutSeconds: its time cannot be budgeted`,
    );
  }
  let total = runs;
  for (const r of (state.Retry as Retrier[] | undefined) ?? []) {
    total += retryWaits(r);
    if (!TRANSIENT.has(JSON.stringify(r.ErrorEquals))) total += (r.MaxAttempts ?? 3) * runs;
  }
  return total;
}

/**
 * The graph of states as it can run: a state is visited with the constants a Pass has set on the
 * variables a Choice dispatches on (`$.phase`: one restart sequence shared by several phases), so a
 * Choice on such a variable goes only where that constant leads. Without this, a shared sequence
 * would look like a loop through every phase.
 */
interface Graph {
  readonly start: string;
  readonly state: ReadonlyMap<string, string>;
  readonly next: ReadonlyMap<string, readonly string[]>;
}

function expand(startAt: string, states: States): Graph {
  const dispatched = new Set<string>();
  for (const st of Object.values(states)) {
    for (const rule of (st.Choices as Record<string, unknown>[] | undefined) ?? []) {
      if (typeof rule.Variable === 'string' && typeof rule.StringEquals === 'string')
        dispatched.add(rule.Variable);
    }
  }
  const tracked = new Set(
    Object.values(states)
      .filter(
        (st) => st.Type === 'Pass' && typeof st.Result === 'string' && dispatched.has(String(st.ResultPath)),
      )
      .map((st) => String(st.ResultPath)),
  );
  const key = (name: string, env: Readonly<Record<string, string>>) => `${name}|${JSON.stringify(env)}`;
  const stateOf = new Map<string, string>();
  const next = new Map<string, string[]>();
  const queue: [string, Record<string, string>][] = [[startAt, {}]];
  stateOf.set(key(startAt, {}), startAt);
  while (queue.length) {
    const [name, env] = queue.shift() as [string, Record<string, string>];
    const st = states[name];
    const out: string[] = [];
    if (st) {
      let after = env;
      if (st.Type === 'Pass' && typeof st.Result === 'string' && tracked.has(String(st.ResultPath))) {
        after = { ...env, [String(st.ResultPath)]: st.Result };
      }
      const targets: string[] = [];
      if (typeof st.Next === 'string') targets.push(st.Next);
      let decided = false;
      for (const rule of (st.Choices as Record<string, unknown>[] | undefined) ?? []) {
        const v = typeof rule.Variable === 'string' ? rule.Variable : undefined;
        if (v && tracked.has(v) && typeof rule.StringEquals === 'string' && v in env) {
          if (env[v] !== rule.StringEquals) continue;
          targets.push(String(rule.Next));
          decided = true;
          break;
        }
        targets.push(String(rule.Next));
      }
      if (!decided && typeof st.Default === 'string') targets.push(st.Default);
      for (const c of (st.Catch as { Next: string }[] | undefined) ?? []) targets.push(c.Next);
      for (const t of new Set(targets)) {
        if (!(t in states)) continue;
        const k = key(t, after);
        out.push(k);
        if (!stateOf.has(k)) {
          stateOf.set(k, t);
          queue.push([t, after]);
        }
      }
    }
    next.set(key(name, env), out);
  }
  return { start: key(startAt, {}), state: stateOf, next };
}

/** Tarjan's strongly connected components, in reverse topological order. */
function components(g: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of g.next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      out.push(scc);
    }
  };
  for (const v of g.state.keys()) if (!index.has(v)) visit(v);
  return out;
}

function graph(
  procedure: string,
  startAt: string,
  states: States,
  bounds: BudgetBounds,
  child: ChildLookup,
  prefix: string,
): Budget {
  if (!(startAt in states))
    throw new BudgetError(`Procedure ${procedure}: StartAt "${prefix}${startAt}" is not a state`);
  const g = expand(startAt, states);
  const sccs = components(g);
  const sccOf = new Map<string, number>();
  sccs.forEach((scc, i) => {
    for (const s of scc) sccOf.set(s, i);
  });
  const nameOf = (k: string) => g.state.get(k) as string;
  const costs = new Map<string, number>();
  const cost = (k: string) => {
    const name = nameOf(k);
    let c = costs.get(name);
    if (c === undefined) {
      c = stateCost(procedure, name, states[name] as AslState, bounds, child, prefix);
      costs.set(name, c);
    }
    return c;
  };
  const sccCost = sccs.map((scc) => {
    const first = scc[0] as string;
    if (scc.length === 1 && !(g.next.get(first) ?? []).includes(first)) return cost(first);
    const members = new Set(scc);
    const entry = scc.find((k) => k === g.start || entries(g, members).has(k)) ?? first;
    const loopStates = [...new Set(scc.map(nameOf))];
    const waits = loopStates
      .map((s) => states[s] as AslState)
      .filter((s) => s.Type === 'Wait' && typeof s.SecondsPath === 'string')
      .map((s) => s.SecondsPath as string);
    const timed = waits.find((w) => w in bounds.timers);
    if (timed) {
      // Waits and callbacks are the timers the input bounds as a whole.
      const untimed = (k: string) => {
        const st = states[nameOf(k)] as AslState;
        return st.Type === 'Wait' || typeof st.TimeoutSecondsPath === 'string' ? 0 : cost(k);
      };
      const timer = bounds.timers[timed] as { seconds: number; passes: number };
      // The loop around the Wait inside this one (a phase's evaluations) runs `iterations` times;
      // the rest of the loop (once per phase) `passes` times.
      const inner = innerLoop(
        g,
        members,
        entry,
        (k) => (states[nameOf(k)] as AslState).SecondsPath === timed,
      );
      const iterations = bounds.iterations[timed] as number;
      if (!inner) return timer.seconds + iterations * onePass(entry, members, g, untimed);
      const innerEntry = [...inner].find(
        (k) => (states[nameOf(k)] as AslState).SecondsPath === timed,
      ) as string;
      const perEvaluation = onePass(innerEntry, inner, g, untimed);
      const perPass = onePass(entry, members, g, (k) => (inner.has(k) ? 0 : untimed(k)));
      return timer.seconds + iterations * perEvaluation + timer.passes * perPass;
    }
    const declared = waits.find((w) => w in bounds.iterations);
    const allowance = loopStates.map((s) => bounds.loops?.[`${procedure}:${s}`]).find((n) => n !== undefined);
    const iterations = declared
      ? (bounds.iterations[declared] as number)
      : (counted(loopStates, states) ?? allowance);
    if (iterations === undefined) {
      throw new BudgetError(
        `Procedure ${procedure}: the loop through ${loopStates.map((s) => `"${prefix}${s}"`).join(', ')} has no bound on its iterations: its time cannot be budgeted`,
      );
    }
    return iterations * onePass(entry, members, g, cost);
  });
  // Longest path over the condensation; Tarjan's order lists successors first.
  const best = new Array<number>(sccs.length).fill(0);
  const via = new Array<number | undefined>(sccs.length).fill(undefined);
  sccs.forEach((scc, i) => {
    let tail = 0;
    let tailVia: number | undefined;
    for (const k of scc) {
      for (const w of g.next.get(k) ?? []) {
        const j = sccOf.get(w);
        if (j === undefined || j === i) continue;
        if (tailVia === undefined || (best[j] as number) > tail) {
          tail = best[j] as number;
          tailVia = j;
        }
      }
    }
    best[i] = (sccCost[i] as number) + tail;
    via[i] = tailVia;
  });
  const start = sccOf.get(g.start) as number;
  const path: string[] = [];
  for (let i: number | undefined = start; i !== undefined; i = via[i]) {
    path.push(...[...new Set((sccs[i] as string[]).map(nameOf))].map((s) => `${prefix}${s}`).reverse());
  }
  return { worstSeconds: best[start] as number, path };
}

/** The loop inside `members` (without its header `entry`) that holds a node `is` picks, if any. */
function innerLoop(
  g: Graph,
  members: ReadonlySet<string>,
  entry: string,
  is: (k: string) => boolean,
): Set<string> | undefined {
  const inside = new Set([...members].filter((k) => k !== entry));
  const sub: Graph = {
    start: entry,
    state: new Map([...g.state].filter(([k]) => inside.has(k))),
    next: new Map([...inside].map((k) => [k, (g.next.get(k) ?? []).filter((w) => inside.has(w))])),
  };
  const scc = components(sub).find((c) => c.some(is));
  if (!scc) return undefined;
  const first = scc[0] as string;
  if (scc.length === 1 && !(sub.next.get(first) ?? []).includes(first)) return undefined;
  return new Set(scc);
}

/** Nodes of `members` entered from outside them. */
function entries(g: Graph, members: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const [k, next] of g.next) {
    if (members.has(k)) continue;
    for (const w of next) if (members.has(w)) out.add(w);
  }
  return out;
}

/**
 * One pass through a loop: the longest path from its entry over the loop's states, with the edges
 * back to a state already on the path (the loop's own back edges) left out.
 */
function onePass(entry: string, members: ReadonlySet<string>, g: Graph, cost: (k: string) => number): number {
  const back = new Set<string>();
  const onPath = new Set<string>();
  const done = new Set<string>();
  const mark = (v: string): void => {
    onPath.add(v);
    for (const w of g.next.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (onPath.has(w)) back.add(`${v}>${w}`);
      else if (!done.has(w)) mark(w);
    }
    onPath.delete(v);
    done.add(v);
  };
  mark(entry);
  const memo = new Map<string, number>();
  const longest = (v: string): number => {
    const known = memo.get(v);
    if (known !== undefined) return known;
    let tail = 0;
    for (const w of g.next.get(v) ?? []) {
      if (members.has(w) && !back.has(`${v}>${w}`)) tail = Math.max(tail, longest(w));
    }
    const total = cost(v) + tail;
    memo.set(v, total);
    return total;
  };
  return longest(entry);
}

/**
 * A loop that counts its passes: a Pass adds 1 to a counter (`States.MathAdd(<path>, 1)`) and a
 * Choice goes round again only while the counter is below a constant. Its iterations are that bound.
 */
function counted(scc: readonly string[], states: States): number | undefined {
  const counters = new Set<string>();
  for (const s of scc) {
    const params = (states[s] as AslState).Parameters as Record<string, unknown> | undefined;
    for (const v of Object.values(params ?? {})) {
      const m = typeof v === 'string' ? /^States\.MathAdd\((\$[^,]+), 1\)$/.exec(v) : null;
      if (m) counters.add(m[1] as string);
    }
  }
  for (const s of scc) {
    for (const rule of ((states[s] as AslState).Choices as Record<string, unknown>[] | undefined) ?? []) {
      if (typeof rule.Variable !== 'string' || !counters.has(rule.Variable)) continue;
      if (typeof rule.NumericLessThan === 'number') return rule.NumericLessThan;
      if (typeof rule.NumericLessThanEquals === 'number') return rule.NumericLessThanEquals + 1;
    }
  }
  return undefined;
}

/** A child lookup over a set of procedures, by the placeholder their parents name them with. */
export function childrenOf(procedures: Readonly<Record<string, Definition>>): ChildLookup {
  const byPlaceholder = new Map(
    Object.entries(procedures).map(([n, d]) => [stateMachinePlaceholder(n), [n, d] as const]),
  );
  return (placeholder) => byPlaceholder.get(placeholder);
}

/** Every nested-execution Task of a definition, with the child it starts (by placeholder). */
function nestedTasks(states: States, prefix = ''): [string, AslState, string][] {
  return Object.entries(states).flatMap(([name, st]): [string, AslState, string][] => {
    const processor = st.ItemProcessor as { States: States } | undefined;
    const branches = (st.Branches as { States: States }[] | undefined) ?? [];
    const arn = (st.Parameters as { StateMachineArn?: unknown } | undefined)?.StateMachineArn;
    const placeholder = typeof arn === 'string' ? [...arn.matchAll(PLACEHOLDER)][0]?.[1] : undefined;
    const here: [string, AslState, string][] =
      st.Type === 'Task' && INTEGRATION.startExecution.exec(String(st.Resource))?.[1] && placeholder
        ? [[`${prefix}${name}`, st, placeholder]]
        : [];
    return [
      ...here,
      ...(processor ? nestedTasks(processor.States, `${prefix}${name}/`) : []),
      ...branches.flatMap((b) => nestedTasks(b.States, `${prefix}${name}/`)),
    ];
  });
}

/**
 * The nesting rule over every procedure: each execution's `TimeoutSeconds` covers its worst path,
 * and a Task that waits on a child with a `TimeoutSeconds` of its own waits at least as long as the
 * child can run (or the parent would stop the child mid-change). One line per problem.
 */
export function budgetProblems(
  procedures: Readonly<Record<string, Definition>>,
  bounds: BudgetBounds,
  only: readonly string[] = Object.keys(procedures),
): string[] {
  const child = childrenOf(procedures);
  const problems: string[] = [];
  for (const name of only) {
    const definition = procedures[name];
    if (!definition) continue;
    try {
      const worst = worstCase(name, definition, bounds, child);
      if (definition.TimeoutSeconds > MAX_TIMER_SECONDS) {
        problems.push(
          `procedure ${name}: TimeoutSeconds ${definition.TimeoutSeconds} is more than a Node.js timer holds (${MAX_TIMER_SECONDS} s): the local engine would time it out at once`,
        );
      }
      if (worst.worstSeconds > definition.TimeoutSeconds) {
        problems.push(
          `procedure ${name}: its worst path takes ${worst.worstSeconds} s but TimeoutSeconds is ${definition.TimeoutSeconds} (${worst.path.join(' > ')})`,
        );
      }
      for (const [state, task, placeholder] of nestedTasks(definition.States)) {
        const found = child(placeholder);
        if (!found || typeof task.TimeoutSeconds !== 'number') continue;
        const childWorst = worstCase(found[0], found[1], bounds, child).worstSeconds;
        if (task.TimeoutSeconds < childWorst) {
          problems.push(
            `procedure ${name}: state "${state}" waits ${task.TimeoutSeconds} s for ${found[0]}, which may take ${childWorst} s: the parent would stop it mid-change`,
          );
        }
      }
    } catch (err) {
      if (err instanceof BudgetError) problems.push(err.message);
      else throw err;
    }
  }
  return problems;
}

/**
 * The longest timeout the local engine can run: it waits with Node.js timers, which hold at most
 * 2^31 - 1 ms (about 24.8 days); a longer one fires at once.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Rounds a worst path up to the next 5 minutes: the `TimeoutSeconds` a source derives. */
export function timeoutFor(worstSeconds: number): number {
  return Math.ceil(worstSeconds / 300) * 300;
}

/** The paths the definitions take their waits, loops and maps from (the input's validated fields). */
export const BOUND_PATHS = {
  stabilityPoll: '$.request.timing.stabilityPollSeconds',
  /** The rollback router's hold: the stage's timing, carried by the routed alarm. */
  routerStabilityPoll: '$.route.timing.stabilityPollSeconds',
  gateInterval: '$.request.gate.intervalSeconds',
  approvalTimeout: '$.Payload.timeoutSeconds',
  settle: '$.route.incident.settleSeconds',
  monitoringWindow: '$.request.monitoring.windowSeconds',
  backups: '$.request.backups',
  /** A code or config rollback's stability wait, inside its Map over the deployments it made. */
  mapStabilityPoll: '$.timing.stabilityPollSeconds',
  /** The deployments a code or config rollback waits on: one per controllable service (api, sidecar). */
  rolledBack: '$.applied.deployments',
  /** A drill's wait for its rollback (functions/shared/drill-config.ts DRILL_LIMITS). */
  drillPoll: '$.request.pollSeconds',
} as const;

/** The services a code or config rollback can deploy or restart (functions/shared/ports.ts ServiceKey). */
export const CONTROLLABLE_SERVICES = 2;

/** What a stage decides about the bounds (lib/config/readiness.ts takes them from its fields). */
export interface StageBounds {
  readonly stabilityPollSeconds: number;
  readonly stabilityMaxAttempts: number;
  readonly settleSeconds: number;
  readonly monitoringWindowSeconds: number;
  /** Databases a cutover backs up (one nested backup each). */
  readonly databases: number;
  /** Seconds each step's function may run, by placeholder (tighter than its Task's timeout). */
  readonly steps?: Readonly<Record<string, number>>;
}

/**
 * Rounds of the database cutover's migration (each up to the migrate-vectors Task's timeout) its
 * timeout is sized for: the loop resumes from its checkpoint until the source is copied, so the
 * definition sets no bound of its own (six hours of rounds at the Task's timeout).
 */
export const MIGRATION_ROUNDS = 24;

/** The rollout's own limits (functions/shared/rollout-plan.ts), which feature-input enforces. */
export interface RolloutLimits {
  readonly totalSeconds: number;
  readonly approvalSeconds: number;
  readonly evaluations: number;
  readonly phases: number;
}

export function budgetBounds(stage: StageBounds, rollout: RolloutLimits): BudgetBounds {
  const p = BOUND_PATHS;
  return {
    seconds: {
      [p.stabilityPoll]: stage.stabilityPollSeconds,
      [p.routerStabilityPoll]: stage.stabilityPollSeconds,
      [p.mapStabilityPoll]: stage.stabilityPollSeconds,
      [p.drillPoll]: DRILL_LIMITS.pollSeconds,
      [p.gateInterval]: rollout.totalSeconds,
      [p.approvalTimeout]: rollout.approvalSeconds,
      [p.settle]: stage.settleSeconds,
      [p.monitoringWindow]: stage.monitoringWindowSeconds,
    },
    iterations: {
      [p.stabilityPoll]: stage.stabilityMaxAttempts,
      [p.routerStabilityPoll]: stage.stabilityMaxAttempts,
      [p.mapStabilityPoll]: stage.stabilityMaxAttempts,
      [p.drillPoll]: DRILL_LIMITS.polls,
      [p.gateInterval]: rollout.evaluations,
    },
    timers: { [p.gateInterval]: { seconds: rollout.totalSeconds, passes: rollout.phases } },
    items: { [p.backups]: stage.databases, [p.rolledBack]: CONTROLLABLE_SERVICES },
    loops: { 'database-cutover:MigrateVectors': MIGRATION_ROUNDS },
    ...(stage.steps ? { steps: stage.steps } : {}),
  };
}

/** A procedure as its source writes it: everything but the timeout, which is derived. */
export type Source = Omit<Definition, 'TimeoutSeconds'> & { readonly TimeoutSeconds?: never };

/** Phases a rollout plan may have (feature-input refuses more). */
export const MAX_ROLLOUT_PHASES = 8;

/**
 * The bounds the rendered timeouts are sized for: the stage schema's defaults for the stability
 * wait, the router's longest settle, a two-hour monitoring window after a database switch, four
 * databases backed up per change, and the rollout plan's own limits. A stage beyond any of them is
 * refused at synth, naming the field.
 */
export const DESIGN_STAGE: StageBounds = {
  stabilityPollSeconds: 15,
  stabilityMaxAttempts: 40,
  settleSeconds: 60,
  monitoringWindowSeconds: 7200,
  databases: 4,
};
export const ROLLOUT_LIMITS: RolloutLimits = {
  totalSeconds: MAX_TOTAL_SECONDS,
  approvalSeconds: MAX_APPROVAL_TIMEOUT_SECONDS,
  evaluations: MAX_EVALUATIONS,
  phases: MAX_ROLLOUT_PHASES,
};
export const DESIGN_BOUNDS: BudgetBounds = budgetBounds(DESIGN_STAGE, ROLLOUT_LIMITS);

/**
 * Gives every source its `TimeoutSeconds`: children first (a parent's worst path includes the
 * child's), each its worst path under `bounds` rounded up to 5 minutes.
 */
export function derivedTimeouts<T extends Record<string, Source>>(
  sources: T,
  bounds: BudgetBounds,
): { readonly [K in keyof T]: Omit<T[K], 'TimeoutSeconds'> & { readonly TimeoutSeconds: number } } {
  const done = new Map<string, Definition>();
  const byPlaceholder = new Map(Object.keys(sources).map((n) => [stateMachinePlaceholder(n), n]));
  const visiting = new Set<string>();
  const derive = (name: string): Definition => {
    const known = done.get(name);
    if (known) return known;
    if (visiting.has(name)) throw new BudgetError(`Procedure ${name}: it starts itself through its children`);
    visiting.add(name);
    const source = sources[name] as Source;
    const lookup: ChildLookup = (placeholder) => {
      const child = byPlaceholder.get(placeholder);
      return child === undefined ? undefined : [child, derive(child)];
    };
    const worst = worstCase(name, source, bounds, lookup).worstSeconds;
    const definition = {
      Comment: source.Comment,
      StartAt: source.StartAt,
      TimeoutSeconds: timeoutFor(worst),
      States: source.States,
    };
    done.set(name, definition);
    visiting.delete(name);
    return definition;
  };
  return Object.fromEntries(Object.keys(sources).map((n) => [n, derive(n)])) as never;
}
