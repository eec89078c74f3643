/**
 * The end-state invariant of every procedure run: after an execution (and the janitor it may have
 * started) the world is in exactly one of four states, each checked from what is observed:
 *
 * - `forward`: the execution SUCCEEDED (or failed after the change, in releasing the lock, which
 *   the janitor then released), the lock is free, the flags are what the procedure sets (as a
 *   clean run leaves them) and the API serves them;
 * - `refused`: nothing changed: the lock is free, every flag has its value and version of before;
 * - `restored`: the lock is free, the flags are back to their values of before (the change
 *   record's), the API serves them, and it was announced;
 * - `held`: the lock is kept in status needs-operator, maintenance-mode is on, the API serves
 *   maintenance (or, when the hold's own maintenance step failed, a notice says what the flag and
 *   the API are instead, as observed), and it was announced.
 *
 * Announced: by a notification, or, when that could not be sent, by the execution ending FAILED,
 * TIMED_OUT or ABORTED (each procedure's alarms on those publish to the alarm topic).
 * Whatever the state, a notification must not state what is not so ("Lock released" with the lock
 * held, "Maintenance mode is ON" while the API serves no maintenance). A verdict names the state
 * the world is closest to and, for each broken condition, what was observed.
 */
import type { ExecutionRecord, LocalEngine, Notification } from './engine';
import type { World } from './world';

export type EndState = 'forward' | 'refused' | 'restored' | 'held';

export interface FlagReading {
  readonly value: string;
  readonly version: number;
}

/** What an end state is checked against: the world right after its run. */
export interface Observed {
  readonly execution: Pick<ExecutionRecord, 'procedure' | 'arn' | 'status' | 'error' | 'cause'>;
  readonly lock: Record<string, string> | undefined;
  readonly flags: Readonly<Record<string, FlagReading>>;
  /** The API's `/health` body, or undefined when it did not answer. */
  readonly api: Record<string, unknown> | undefined;
  /** Notifications of the execution, its nested executions and the janitor runs about them. */
  readonly notifications: readonly Notification[];
}

export interface Expected {
  /** Flags (value and version) right before the execution started. */
  readonly before: Readonly<Record<string, FlagReading>>;
  /** Flag values a clean run of the procedure leaves (`normalizeFlags` form). */
  readonly forward?: Readonly<Record<string, string>>;
  /** Makes flag values comparable between worlds (their endpoints differ). */
  readonly normalize?: (values: Record<string, string>) => Record<string, string>;
}

export interface Verdict {
  /** The end state the world is in, or the one it is closest to when `ok` is false. */
  readonly endState: EndState;
  readonly ok: boolean;
  /** Each broken condition, as observed. */
  readonly violations: readonly string[];
}

/** Reads the world after `execution` ended. */
export async function observe(world: World, execution: ExecutionRecord): Promise<Observed> {
  const flags = await readFlags(world);
  const api = await world
    .apiHealth()
    .then((h) => h.body)
    .catch(() => undefined);
  return {
    execution,
    lock: await world.lock(),
    flags,
    api,
    notifications: notificationsOf(world.engine, execution),
  };
}

/** Flag readings now (value and version): what `before` is taken from. */
export async function readFlags(world: World): Promise<Record<string, FlagReading>> {
  const out: Record<string, FlagReading> = {};
  for (const name of Object.keys(world.parameters.snapshot()).sort())
    out[name] = await world.parameters.get(name as never);
  return out;
}

/** The execution, its nested executions (any depth), and the janitor runs about any of them. */
export function notificationsOf(engine: LocalEngine, execution: ExecutionRecord): Notification[] {
  const tree = new Set([execution.arn]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of engine.executions) {
      if (e.parentArn && tree.has(e.parentArn) && !tree.has(e.arn)) {
        tree.add(e.arn);
        grew = true;
      }
    }
  }
  const janitors = engine.executions.filter(
    (e) =>
      e.procedure === 'lock-janitor' &&
      tree.has((e.input as { detail?: { executionArn?: string } }).detail?.executionArn ?? ''),
  );
  for (const j of janitors) tree.add(j.arn);
  return engine.notifications.filter((n) => tree.has(n.executionArn));
}

/** Flag values with a world's endpoints replaced by their role, so two worlds compare. */
export function normalizeFlags(world: World, values: Record<string, string>): Record<string, string> {
  const { api, sidecar } = world.config.endpoints;
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, v.split(sidecar).join('<sidecar>').split(api).join('<api>')]),
  );
}

const valuesOf = (flags: Readonly<Record<string, FlagReading>>) =>
  Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, v.value]));

/** Flag differences, each as `name: now X (expected Y)`. */
function flagDiff(now: Record<string, string>, want: Readonly<Record<string, string>>): string[] {
  return [...new Set([...Object.keys(now), ...Object.keys(want)])]
    .sort()
    .filter((k) => now[k] !== want[k])
    .map((k) => `${k} is ${JSON.stringify(now[k] ?? null)} (expected ${JSON.stringify(want[k] ?? null)})`);
}

function lockText(lock: Record<string, string> | undefined): string {
  return lock ? `held by ${lock.owner} (${lock.procedure}, status ${lock.status})` : 'free';
}

/** Whether the API serves what the flags say: provider, maintenance, database. */
function apiMismatch(o: Observed): string[] {
  if (!o.api) return ['the API did not answer /health'];
  const out: string[] = [];
  const f = (n: string) => o.flags[n]?.value;
  if (f('memory/provider') !== undefined && o.api.provider !== f('memory/provider'))
    out.push(
      `the API serves provider ${String(o.api.provider)} while memory/provider is ${f('memory/provider')}`,
    );
  const maintenance = f('maintenance-mode') === 'on';
  if (o.api.maintenance !== maintenance)
    out.push(
      `the API serves maintenance ${String(o.api.maintenance)} while maintenance-mode is ${f('maintenance-mode')}`,
    );
  if (
    f('database/active') !== undefined &&
    o.api.database !== undefined &&
    o.api.database !== f('database/active')
  )
    out.push(
      `the API serves database ${String(o.api.database)} while database/active is ${f('database/active')}`,
    );
  return out;
}

/** Claims in notification texts that the observed world contradicts. */
function falseClaims(o: Observed): string[] {
  const out: string[] = [];
  for (const n of o.notifications) {
    const text = n.message;
    const who = `notification "${n.subject}"`;
    if (/Lock (was )?released/i.test(text) && o.lock)
      out.push(`${who} says "Lock released" but the lock is ${lockText(o.lock)}`);
    // The janitor's release notice ends with what it observed before it released the lock.
    if (/lock is HELD/i.test(text) && !o.lock && n.attributes.outcome !== 'lock-released')
      out.push(`${who} says the lock is HELD but it is free`);
    if (/Maintenance mode is ON/i.test(text) && o.api?.maintenance !== true)
      out.push(
        `${who} says "Maintenance mode is ON" but the API serves maintenance ${String(o.api?.maintenance)} (maintenance-mode ${o.flags['maintenance-mode']?.value})`,
      );
    if (/API does NOT serve maintenance/i.test(text) && o.api?.maintenance === true)
      out.push(`${who} says the API does NOT serve maintenance but it does`);
  }
  return out;
}

/**
 * Whether a notice reports the maintenance the hold left as it is observed (the hold's
 * `ObserveHold` sentence): how a hold whose own maintenance step failed is still accounted for.
 */
function maintenanceReported(o: Observed): boolean {
  const flag = o.flags['maintenance-mode']?.value;
  const api =
    o.api === undefined
      ? 'the API did not answer /health'
      : o.api.maintenance === true
        ? 'the API serves maintenance'
        : 'the API does NOT serve maintenance';
  return o.notifications.some(
    (n) => n.message.includes(`maintenance-mode flag ${flag}`) && n.message.includes(api),
  );
}

/**
 * Executions that end FAILED, TIMED_OUT or ABORTED are announced by the procedure's own alarms
 * (the stack's Failed/TimedOut/Aborted alarms publish to the alarm topic, `lib/procedure.ts`):
 * the second path when the notification itself could not be sent.
 */
const ALARMED: ReadonlySet<string> = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

/** Checks the end state of one run; see the module comment for the four states. */
export function checkEndState(o: Observed, expected: Expected): Verdict {
  const normalize = expected.normalize ?? ((v: Record<string, string>) => v);
  const now = valuesOf(o.flags);
  const before = valuesOf(expected.before);
  const status = `execution ${o.execution.status}${o.execution.error ? ` (${o.execution.error})` : ''}`;
  const common: string[] = [];
  if (o.execution.status === 'RUNNING') common.push('the execution is still RUNNING');
  // A definition that reads what its state does not hold fails outside every Catch (States.ALL
  // does not match States.Runtime): no exit path of the protocol was taken.
  if (o.execution.error === 'States.Runtime')
    common.push(`the execution failed with States.Runtime (${o.execution.cause ?? 'no cause'})`);
  common.push(...falseClaims(o));

  const versionsKept = Object.keys({ ...expected.before, ...o.flags }).filter(
    (k) => o.flags[k]?.version !== expected.before[k]?.version,
  );
  const changedSince = versionsKept.map(
    (k) =>
      `${k} went from version ${expected.before[k]?.version ?? 'none'} to ${o.flags[k]?.version ?? 'none'}`,
  );
  const lockFree = o.lock ? [`the lock is ${lockText(o.lock)}`] : [];
  const changeAnnounced =
    o.notifications.length || ALARMED.has(o.execution.status) ? [] : [`no notification was sent (${status})`];

  const verdicts: Record<EndState, () => string[]> = {
    forward: () => [
      // A release that failed after a verified change fails the execution (so the janitor frees
      // the lock and the Failed alarm fires): forward too, with the lock free.
      ...(o.execution.status === 'SUCCEEDED' || ALARMED.has(o.execution.status) ? [] : [status]),
      ...lockFree,
      ...(expected.forward ? flagDiff(normalize(now), expected.forward) : []),
      ...apiMismatch(o),
    ],
    refused: () => [...lockFree, ...changedSince],
    restored: () => [...lockFree, ...flagDiff(now, before), ...apiMismatch(o), ...changeAnnounced],
    held: () => [
      ...(o.lock?.status === 'needs-operator' ? [] : [`the lock is ${lockText(o.lock)}, not needs-operator`]),
      // Maintenance on and served; or, when the hold's own maintenance step failed, a notice that
      // says what is served instead (as observed).
      ...(now['maintenance-mode'] === 'on' || maintenanceReported(o)
        ? []
        : [`maintenance-mode is ${now['maintenance-mode']}`]),
      ...(o.api?.maintenance === true || maintenanceReported(o)
        ? []
        : [`the API serves maintenance ${String(o.api?.maintenance ?? 'nothing (not answering)')}`]),
      ...changeAnnounced,
    ],
  };
  const order: EndState[] =
    o.lock?.status === 'needs-operator' ||
    (now['maintenance-mode'] === 'on' && before['maintenance-mode'] !== 'on')
      ? ['held']
      : o.execution.status === 'SUCCEEDED'
        ? ['forward', 'refused', 'restored']
        : ['refused', 'restored', 'forward'];
  const tried = order.map((s) => ({ state: s, violations: verdicts[s]() }));
  const met = tried.find((t) => t.violations.length === 0);
  if (met) return { endState: met.state, ok: common.length === 0, violations: common };
  // None is met: the closest first, then why each of the others is not met either.
  const [closest, ...others] = [...tried].sort((a, b) => a.violations.length - b.violations.length) as [
    (typeof tried)[0],
    ...typeof tried,
  ];
  return {
    endState: closest.state,
    ok: false,
    violations: [
      ...closest.violations,
      ...common,
      ...others.map((t) => `not ${t.state} either: ${t.violations.join(', ')}`),
    ],
  };
}

/** One line for a report: `held ok`, or the state and its broken conditions. */
export function describeVerdict(v: Verdict): string {
  return v.ok ? `${v.endState} ok` : `not ${v.endState}: ${v.violations.join('; ')}`;
}
