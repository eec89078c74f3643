import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ScriptedMetricsSource } from './adapters/scripted-metrics';
import { alarmStateChange } from './alarm-event';
import { type LocalDatabase, startLocalDatabase } from './database-rehearsal';
import { procedureNames, readDefinitionText, taskStates } from './definitions';
import type { EventLog, ExecutionRecord, Hook, Notification } from './engine';
import { World, type WorldOptions } from './world';

export interface RehearsalOptions {
  readonly procedure: string;
  /** Execution input; a sensible default per procedure when omitted. */
  readonly input?: unknown;
  /** Make this state of the rehearsed procedure fail (shows the automatic rollback). */
  readonly failAt?: string;
  /** Make this state fail once with its integration's transient error (its Retry absorbs it). */
  readonly failOnceAt?: string;
  /** Where the run's state goes; a fresh folder under `.rehearsal/` by default. */
  readonly dir?: string;
  readonly write: (line: string) => void;
  readonly color?: boolean;
  /** feature-rollout: the gate's metrics show a 5 % error rate from the start of this phase (1-based). */
  readonly errorSpikeAtPhase?: number;
}

export interface RehearsalResult {
  readonly execution: ExecutionRecord;
  readonly outcome: string;
  readonly flags: Record<string, string>;
  readonly apiProvider: string | undefined;
  readonly lock: Record<string, string> | undefined;
  readonly dir: string;
}

const DEFAULT_INPUT: Record<string, unknown> = {
  'provider-cutover': {
    reason: 'Rehearsal: switch the memory provider to the mem0 sidecar',
    requestedBy: 'rehearsal',
  },
  'provider-rollback': { reason: 'Rehearsal: put the native provider back', requestedBy: 'rehearsal' },
  // Seed 003's four phases with bakes of seconds instead of hours, the gate every second.
  'feature-rollout': {
    reason: 'Rehearsal: roll out Memory & Context in phases',
    requestedBy: 'rehearsal',
    bakeSeconds: { infrastructure: 2, internal: 2, canary: 3, full: 2 },
    gate: { intervalSeconds: 1 },
  },
  'feature-disable': { reason: 'Rehearsal: emergency disable of Memory & Context', requestedBy: 'rehearsal' },
  backup: {
    store: 'sqlite',
    database: 'memory',
    reason: 'Rehearsal: back up the memory store',
    requestedBy: 'rehearsal',
  },
  'restore-sqlite': {
    database: 'memory',
    reason: 'Rehearsal: restore the memory store',
    requestedBy: 'rehearsal',
  },
  'restore-postgres': {
    database: 'memory',
    reason: 'Rehearsal: restore the memory database',
    requestedBy: 'rehearsal',
  },
  // Seed 004's "error rate > 10 % for 5 min" going to ALARM; the event is built when it is sent.
  'rollback-router': { alarm: 's004-error-rate' },
  // Seed 002: Qdrant -> pgvector, on a generated collection (the stores start with the world).
  'database-cutover': {
    reason: 'Rehearsal: move memory vectors to pgvector (seed 002)',
    requestedBy: 'rehearsal',
  },
  'database-rollback': { reason: 'Rehearsal: switch back to the old database', requestedBy: 'rehearsal' },
};
/** What must have happened before a procedure makes sense (a rollback needs a cutover to undo). */
const SETUP: Record<string, (string | { procedure: string; input: unknown })[]> = {
  'restore-sqlite': ['backup'],
  'restore-postgres': [
    {
      procedure: 'backup',
      input: { store: 'postgres', database: 'memory', reason: 'Rehearsal: nightly backup' },
    },
  ],
  'provider-rollback': ['provider-cutover'],
  'feature-disable': ['feature-rollout'],
  'rollback-router': ['provider-cutover'],
  'database-rollback': ['database-cutover'],
};
/** The procedures a local world can run, each with its default input and setup. */
export const REHEARSABLE = Object.keys(DEFAULT_INPUT);

/**
 * A world ready to run `procedure`: PostgreSQL when it touches PostgreSQL, and for the database
 * procedures the Qdrant stand-in and pgvector (closed with the world by `close`).
 */
export async function startRehearsalWorld(o: {
  readonly procedure: string;
  readonly dir: string;
  readonly input?: unknown;
  readonly metricsSource?: ScriptedMetricsSource;
  readonly engine?: WorldOptions['engine'];
  readonly timing?: WorldOptions['timing'];
  readonly onDatabase?: (database: LocalDatabase) => void;
}): Promise<{ world: World; database: LocalDatabase | undefined; close(): Promise<void> }> {
  const input = (o.input ?? DEFAULT_INPUT[o.procedure]) as { store?: string } | undefined;
  // PostgreSQL (a throwaway cluster) only when the procedure touches it.
  const database: LocalDatabase | undefined = o.procedure.startsWith('database-')
    ? await startLocalDatabase({ backups: ['memory'] })
    : undefined;
  if (database) o.onDatabase?.(database);
  const postgres =
    o.procedure === 'restore-postgres' || input?.store === 'postgres' || database !== undefined;
  try {
    const world = await World.start({
      dir: o.dir,
      postgres,
      metricsSource: o.metricsSource ?? new ScriptedMetricsSource(),
      ...(database ? { database: database.world } : {}),
      ...(o.timing ? { timing: o.timing } : {}),
      engine: o.engine,
    });
    return {
      world,
      database,
      async close() {
        await world.close();
        await database?.close();
      },
    };
  } catch (err) {
    await database?.close();
    throw err;
  }
}

/** Runs what must have happened before `procedure` makes sense; throws when a setup run fails. */
export async function runSetup(world: World, procedure: string, onStep?: (setup: string) => void) {
  for (const step of SETUP[procedure] ?? []) {
    const setup = typeof step === 'string' ? step : step.procedure;
    onStep?.(setup);
    const prior = await world.engine.run(setup, typeof step === 'string' ? DEFAULT_INPUT[setup] : step.input);
    if (prior.status !== 'SUCCEEDED')
      throw new Error(`Setup ${setup} did not succeed: ${prior.error} ${prior.cause}`);
  }
}

/** The rehearsal's default input of `procedure` (the router's alarm event is built for this world). */
export function defaultInput(environment: string, procedure: string): unknown {
  return procedure === 'rollback-router'
    ? alarmStateChange(`switchback-${environment}-s004-error-rate`)
    : DEFAULT_INPUT[procedure];
}

/**
 * Runs one procedure locally against a freshly started reference memory stack and prints each
 * step as it runs, then a summary: path taken, final flags, what the API really serves, the lock,
 * the notifications and the total time. Everything it did is written to `<dir>/report.json`.
 */
export async function rehearse(options: RehearsalOptions): Promise<RehearsalResult> {
  const { procedure, write } = options;
  if (!REHEARSABLE.includes(procedure)) {
    throw new Error(`Cannot rehearse "${procedure}"; choose one of: ${REHEARSABLE.join(', ')}`);
  }
  const tasks = taskStates(JSON.parse(readDefinitionText(procedure))).map((t) => t.name);
  for (const state of [options.failAt, options.failOnceAt]) {
    if (state !== undefined && !tasks.includes(state))
      throw new Error(`${procedure} has no Task state "${state}"; its Task states: ${tasks.join(', ')}`);
  }
  const c = palette(options.color ?? false);
  const dir =
    options.dir ?? join(process.cwd(), '.rehearsal', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  write(c.bold(`Switchback rehearsal: ${procedure}`));
  write(
    `  starting the reference memory stack (API + mem0-style sidecar), DynamoDB lock table and SSM parameters...`,
  );

  const metricsSource = new ScriptedMetricsSource();
  const { world, database, close } = await startRehearsalWorld({
    procedure,
    dir,
    input: options.input,
    metricsSource,
    onDatabase: (db) =>
      write(
        `  and a Qdrant stand-in (${db.collection.points.length} generated points) and PostgreSQL with pgvector (PGlite)...`,
      ),
    engine: {
      faults: [
        ...(options.failAt ? [{ procedure, state: options.failAt }] : []),
        ...(options.failOnceAt ? [{ procedure, state: options.failOnceAt, kind: 'once' as const }] : []),
      ],
      onEvent: (execution, event) => printEvent(write, c, execution, event, world),
      ...(options.errorSpikeAtPhase ? { hooks: errorSpike(metricsSource, options.errorSpikeAtPhase) } : {}),
    },
  });
  try {
    const health = await world.apiHealth();
    write(`  api      ${world.config.endpoints.api}  (provider ${String(health.body.provider)})`);
    write(`  sidecar  ${world.config.endpoints.sidecar}`);
    write(`  state    ${relative(process.cwd(), dir) || dir}`);
    if (options.failAt) write(c.yellow(`  failure injected at ${procedure}:${options.failAt}`));
    if (options.failOnceAt)
      write(c.yellow(`  transient failure injected once at ${procedure}:${options.failOnceAt}`));

    await runSetup(world, procedure, (setup) => {
      write('');
      write(c.dim(`setup: ${setup}`));
    });

    write('');
    const execution = await world.engine.run(
      procedure,
      options.input ?? defaultInput(world.config.environment, procedure),
    );
    const flags = world.parameters.snapshot();
    const after = await world.apiHealth().catch(() => undefined);
    const lock = await world.lock();
    const outcome = outcomeOf(execution, world.engine.notifications);

    write('');
    write(c.bold('Summary'));
    write(`  outcome        ${colorOutcome(c, execution, outcome)}`);
    if (execution.status !== 'SUCCEEDED') write(`  why            ${execution.cause ?? ''}`);
    write(`  path           ${pathOf(execution).join(' > ')}`);
    for (const child of world.engine.executions.filter((e) => e.parentArn === execution.arn)) {
      write(`  ${`${child.procedure}:`.padEnd(14)} ${pathOf(child).join(' > ')}`);
    }
    write(
      `  flags          ${Object.entries(flags)
        .map(([k, v]) => `${k}=${v}`)
        .join('  ')}`,
    );
    write(
      `  api            ${after ? `provider ${String(after.body.provider)}, health ${after.status}, maintenance ${String(after.body.maintenance)}` : 'not answering'}`,
    );
    if (procedure.startsWith('feature-')) write(`  feature        ${await featureServed(world)}`);
    if (database) {
      const { rows } = await database.pgvector.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM memory_fragments WHERE embedding IS NOT NULL',
      );
      write(
        `  database       api on ${String(after?.body.database)}; pgvector rows with an embedding: ${rows[0]?.n}`,
      );
      const cutover = world.engine.executions.find((e) => e.procedure === 'database-cutover');
      if (cutover)
        write(
          `  ${procedure === 'database-cutover' ? 'report        ' : 'cutover report'} s3://${world.config.changeRecords.bucket}/database-cutovers/${world.config.environment}/${cutover.name}/report.md`,
        );
    }
    const incident = execution.output as {
      report?: { markdown: string };
      phases?: Record<string, number | null>;
    };
    if (procedure === 'rollback-router' && incident?.report) {
      write(`  report         ${incident.report.markdown}`);
      write(
        `  phases         ${Object.entries(incident.phases ?? {})
          .map(([k, v]) => `${k} ${v === null ? 'n/a' : `${v} s`}`)
          .join(', ')}`,
      );
    }
    write(`  lock           ${lock ? `HELD by ${lock.owner} (${lock.status})` : 'released'}`);
    for (const n of world.engine.notifications.filter((n) => n.executionArn === execution.arn)) {
      write(`  notification   ${n.subject}`);
    }
    write(`  total          ${((Date.now() - started) / 1000).toFixed(1)} s`);
    writeFileSync(
      join(dir, 'report.json'),
      `${JSON.stringify(
        {
          procedure,
          outcome,
          flags,
          lock: lock ?? null,
          executions: world.engine.executions,
          notifications: world.engine.notifications,
          logs: world.logs.entries,
        },
        null,
        2,
      )}\n`,
    );
    return { execution, outcome, flags, apiProvider: after?.body.provider as string | undefined, lock, dir };
  } finally {
    await close();
  }
}

/** What the app serves of seed 003's feature: its own `/api/v1/config`. */
async function featureServed(world: World): Promise<string> {
  try {
    const res = await fetch(`${world.config.endpoints.api}/api/v1/config`, {
      signal: AbortSignal.timeout(2_000),
    });
    const body = (await res.json()) as {
      memory_context_enabled?: boolean;
      memory_context?: { percentage?: number | null; flag_version?: number | null };
    };
    if (!body.memory_context_enabled)
      return `memory context OFF (flag version ${body.memory_context?.flag_version})`;
    return `memory context ON for ${body.memory_context?.percentage} % + allow-list (flag version ${body.memory_context?.flag_version})`;
  } catch {
    return 'not answering';
  }
}

/** From the start of phase `n` (1-based) on, the gate reads a 5 % error rate. */
function errorSpike(source: ScriptedMetricsSource, n: number): Record<string, Hook> {
  let started = 0;
  return {
    'feature-rollout:StartPhase': () => {
      started += 1;
      if (started === n) source.set({ errors: Math.ceil((source.current.requests ?? 0) * 0.05) });
    },
  };
}

/** The outcome a procedure reported (its notice), else its execution status. */
export function outcomeOf(execution: ExecutionRecord, notifications: readonly Notification[]): string {
  const output = execution.output as { outcome?: string } | undefined;
  if (output?.outcome) return output.outcome;
  const notice = notifications.filter((n) => n.executionArn === execution.arn).at(-1);
  return notice?.attributes.outcome ?? execution.status.toLowerCase();
}

function pathOf(execution: ExecutionRecord): string[] {
  return execution.steps.filter((s) => s.type !== 'Choice' && s.type !== 'Pass').map((s) => s.state);
}

type Palette = Record<'bold' | 'dim' | 'green' | 'red' | 'yellow' | 'cyan', (s: string) => string>;
function palette(on: boolean): Palette {
  const wrap = (code: number) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { bold: wrap(1), dim: wrap(2), green: wrap(32), red: wrap(31), yellow: wrap(33), cyan: wrap(36) };
}

function colorOutcome(c: Palette, execution: ExecutionRecord, outcome: string): string {
  const text = `${outcome}  (${execution.status}${execution.error ? `: ${execution.error}` : ''})`;
  if (execution.status === 'SUCCEEDED') return c.green(text);
  return outcome === 'rolled-back' ? c.yellow(text) : c.red(text);
}

function depthOf(world: World | undefined, execution: ExecutionRecord): number {
  let depth = 0;
  let parent = execution.parentArn;
  while (parent && world) {
    depth += 1;
    parent = world.engine.executions.find((e) => e.arn === parent)?.parentArn;
  }
  return depth;
}

function printEvent(
  write: (l: string) => void,
  c: Palette,
  execution: ExecutionRecord,
  event: EventLog,
  world?: World,
) {
  const indent = '  '.repeat(depthOf(world, execution) + 1);
  if (event.type === 'ExecutionStarted') {
    const label =
      execution.procedure === 'lock-janitor' ? 'lock janitor (execution status change)' : execution.procedure;
    write(`${indent.slice(2)}${c.cyan(label)} ${c.dim(execution.name)}`);
    return;
  }
  if (!('state' in event)) return;
  const { name, type } = event.state;
  if (type === 'Choice' || type === 'Pass') return;
  const step = [...execution.steps].reverse().find((s) => s.state === name);
  const ms = step?.durationMs !== undefined ? c.dim(`${String(step.durationMs).padStart(6)} ms`) : '';
  if (event.type === 'StateExited' && step?.outcome === 'succeeded') {
    if (type === 'Fail') write(`${indent}${c.red('x')} ${name}`);
    else write(`${indent}${c.green('+')} ${name.padEnd(34)} ${ms}`);
  } else if (event.type === 'StateRetried') {
    write(`${indent}${c.yellow('~')} ${name.padEnd(34)} retry`);
  } else if (event.type === 'StateCaught') {
    write(`${indent}${c.red('x')} ${name.padEnd(34)} ${ms}  ${c.red(step?.error ?? '')} -> caught`);
  } else if (event.type === 'StateFailed' && type === 'Fail') {
    write(`${indent}${c.red('x')} ${name}  ${c.red(event.Error)}`);
  }
}

export { procedureNames };
