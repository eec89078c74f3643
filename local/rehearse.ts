import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describeEntry } from '../cli/aws';
import { type Palette, palette } from '../cli/palette';
import { renderEvent, type StepEvent } from '../cli/render';
import { ScriptedMetricsSource } from './adapters/scripted-metrics';
import { alarmStateChange } from './alarm-event';
import { type LocalDatabase, startLocalDatabase } from './database-rehearsal';
import { procedureNames } from './definitions';
import type { EventLog, ExecutionRecord, Hook, Notification } from './engine';
import {
  checkRehearsalOptions,
  EXIT,
  exportReports,
  pruneRehearsals,
  rehearsableProcedures,
  type Verdict,
  verdictOf,
} from './rehearsal-checks';
import { SCENES } from './rehearsal-scenes';
import { World, type WorldOptions } from './world';

export interface RehearsalOptions {
  readonly procedure: string;
  /** Execution input; a sensible default per procedure when omitted. */
  readonly input?: unknown;
  /** Make this state of the rehearsed procedure fail (shows the automatic rollback). */
  readonly failAt?: string;
  /** Make this state fail once with its integration's transient error: its Retry absorbs it. */
  readonly failOnceAt?: string;
  /** Where the run's state goes; a fresh folder under `.rehearsal/` by default. */
  readonly dir?: string;
  readonly write: (line: string) => void;
  readonly color?: boolean;
  /** feature-rollout: the gate's metrics show a 5 % error rate from the start of this phase (1-based). */
  readonly errorSpikeAtPhase?: number;
  /**
   * Stops the rehearsal (Ctrl-C, SIGTERM, a closed pipe): running executions are stopped, a
   * partial report is written and every process the rehearsal started is ended.
   */
  readonly signal?: AbortSignal;
  /** How many rehearsal folders to keep under `.rehearsal/` (older ones are removed). @default 10 */
  readonly keep?: number;
}

export interface RehearsalResult {
  readonly execution: ExecutionRecord;
  readonly outcome: string;
  readonly flags: Record<string, string>;
  readonly apiProvider: string | undefined;
  readonly lock: Record<string, string> | undefined;
  readonly dir: string;
  /** Whether the run ended as designed, the process exit code, and why. */
  readonly verdict: Verdict;
  /** The reports the procedures wrote, as plain files under `<dir>/reports/`. */
  readonly reports: readonly string[];
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
  // Whole incidents (local/rehearsal-scenes.ts): a change by someone else, the alarm, the router.
  // With --input, the procedure runs as an operator would start it, after the same change.
  'code-rollback': { reason: 'Rehearsal: the API back to its last known good', requestedBy: 'rehearsal' },
  'config-rollback': {
    reason: 'Rehearsal: the watched parameters back to their last known good',
    requestedBy: 'rehearsal',
  },
  // A config rollback drill: the drill marker, SetAlarmState ALARM, the router, the alarm back to OK.
  drill: { kind: 'config', reason: 'Rehearsal: a config rollback drill', requestedBy: 'rehearsal' },
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
/** Every registered procedure that can be rehearsed (all but the lock janitor), in the registry's order. */
export const REHEARSABLE: readonly string[] = rehearsableProcedures(DEFAULT_INPUT);

/** Whether a rehearsal of `procedure` (with this input) needs a throwaway PostgreSQL 15 cluster. */
function needsPostgres(procedure: string, input: { store?: string } | undefined): boolean {
  return procedure === 'restore-postgres' || input?.store === 'postgres' || procedure.startsWith('database-');
}

/**
 * A world ready to run `procedure`: PostgreSQL when it touches PostgreSQL, and for the database
 * procedures the Qdrant stand-in and pgvector; `close` ends all of it. The rehearsal and the
 * fault-injection sweep (`npm run sweep`) start their worlds here.
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
  const database = o.procedure.startsWith('database-')
    ? await startLocalDatabase({ backups: ['memory'] })
    : undefined;
  try {
    if (database) o.onDatabase?.(database);
    const world = await World.start({
      dir: o.dir,
      postgres: needsPostgres(o.procedure, input),
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

/**
 * Runs what must have happened before `procedure` makes sense (a rollback needs a cutover to
 * undo), then plays its scene if it has one (`local/rehearsal-scenes.ts`: somebody else's change
 * and the traffic that sets the alarm off). Returns false when stopped by `signal` (or a setup run
 * was aborted); throws when a setup run did not succeed or the scene could not be played.
 */
export async function runSetup(
  world: World,
  procedure: string,
  o: {
    readonly signal?: AbortSignal;
    readonly onStep?: (setup: string) => void;
    readonly onScene?: (title: string) => void;
    /** Where the scene writes what it did (nowhere by default). */
    readonly write?: (line: string) => void;
    readonly palette?: Palette;
  } = {},
): Promise<boolean> {
  for (const step of SETUP[procedure] ?? []) {
    if (o.signal?.aborted) return false;
    const setup = typeof step === 'string' ? step : step.procedure;
    o.onStep?.(setup);
    const prior = await world.engine.run(
      setup,
      typeof step === 'string' ? defaultInput(world.config.environment, setup) : step.input,
    );
    if (prior.status === 'ABORTED') return false;
    if (prior.status !== 'SUCCEEDED')
      throw new Error(`Setup ${setup} did not succeed: ${prior.error} ${prior.cause}`);
  }
  const scene = SCENES[procedure];
  if (scene) {
    if (o.signal?.aborted) return false;
    o.onScene?.(scene.title);
    await scene.play(world, o.write ?? (() => undefined), o.palette ?? palette(false));
  }
  return true;
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
  checkRehearsalOptions({
    procedure,
    rehearsable: REHEARSABLE,
    failAt: options.failAt,
    failOnceAt: options.failOnceAt,
    errorSpikeAtPhase: options.errorSpikeAtPhase,
    input: options.input,
  });
  const c = palette(options.color ?? false);
  const root = join(process.cwd(), '.rehearsal');
  const dir = options.dir ?? join(root, new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true });
  if (!options.dir) pruneRehearsals(dirname(dir), options.keep ?? 10);
  const started = Date.now();
  write(c.bold(`Switchback rehearsal: ${procedure}`));
  write(
    `  starting the reference memory stack (API + mem0-style sidecar), DynamoDB lock table and SSM parameters...`,
  );

  const metricsSource = new ScriptedMetricsSource();
  const input = (options.input ?? DEFAULT_INPUT[procedure]) as { store?: string } | undefined;
  if (procedure.startsWith('database-'))
    write(
      '  and a Qdrant stand-in with a generated collection, PostgreSQL with pgvector (PGlite, WebAssembly: ~30 s to start)...',
    );
  if (needsPostgres(procedure, input)) write('  a throwaway PostgreSQL 15 cluster...');
  const stack = await startRehearsalWorld({
    procedure,
    dir,
    input,
    metricsSource,
    onDatabase: (d) => write(`  ${d.collection.points.length} generated points in the Qdrant stand-in`),
    engine: {
      faults: [
        ...(options.failAt ? [{ procedure, state: options.failAt }] : []),
        ...(options.failOnceAt ? [{ procedure, state: options.failOnceAt, kind: 'once' as const }] : []),
      ],
      onEvent: (execution, event) => printEvent(write, c, execution, event, world),
      ...(options.errorSpikeAtPhase ? { hooks: errorSpike(metricsSource, options.errorSpikeAtPhase) } : {}),
    },
  });
  const { world, database } = stack;
  // Stop what runs when asked to: the engine ends each execution ABORTED; the report follows.
  const interrupt = () => {
    for (const e of world.engine.executions.filter((x) => x.status === 'RUNNING'))
      world.engine.stop(e.arn, { error: 'RehearsalInterrupted', cause: 'The rehearsal was interrupted' });
  };
  options.signal?.addEventListener('abort', interrupt, { once: true });
  let execution: ExecutionRecord | undefined;
  try {
    const health = await world.apiHealth();
    write(`  api      ${world.config.endpoints.api}  (provider ${String(health.body.provider)})`);
    write(`  sidecar  ${world.config.endpoints.sidecar}`);
    write(`  state    ${relative(process.cwd(), dir) || dir}`);
    if (options.failAt) write(c.yellow(`  failure injected at ${procedure}:${options.failAt}`));
    if (options.failOnceAt)
      write(c.yellow(`  transient failure injected once at ${procedure}:${options.failOnceAt}`));

    const scene = SCENES[procedure];
    const setupDone = await runSetup(world, procedure, {
      signal: options.signal,
      onStep: (setup) => {
        write('');
        write(c.dim(`setup: ${setup}`));
      },
      onScene: (title) => {
        write('');
        write(c.dim(`scene: ${title}`));
      },
      write,
      palette: c,
    });
    write('');
    if (setupDone && !options.signal?.aborted) {
      // A scene's rehearsal runs the router on the alarm the scene set off; with --input, the
      // procedure itself, as an operator would start it after the same change.
      execution = await world.engine.run(
        scene && !options.input ? 'rollback-router' : procedure,
        options.input ??
          (scene ? world.alarmEvent(scene.alarm) : defaultInput(world.config.environment, procedure)),
      );
    }
    return await summarize({ options, world, execution, database, dir, started, c });
  } finally {
    options.signal?.removeEventListener('abort', interrupt);
    await stack.close();
  }
}

/** The summary, the plain-file reports and `report.json`, for a finished or an interrupted run. */
async function summarize(o: {
  options: RehearsalOptions;
  world: World;
  execution: ExecutionRecord | undefined;
  database: LocalDatabase | undefined;
  dir: string;
  started: number;
  c: Palette;
}): Promise<RehearsalResult> {
  const { options, world, database, dir, c } = o;
  const { procedure, write } = options;
  const interrupted = options.signal?.aborted === true;
  // Interrupted before the procedure itself started: the last execution (a setup) stands for it.
  const execution = o.execution ?? world.engine.executions.at(-1) ?? placeholderExecution(procedure);
  // A scene's rehearsal runs the router: the procedure rehearsed is the rollback it started.
  const rehearsed =
    execution.procedure === procedure
      ? execution
      : (world.engine.executions.find((e) => e.procedure === procedure && e.parentArn === execution.arn) ??
        execution);
  const flags = world.parameters.snapshot();
  const after = await world.apiHealth().catch(() => undefined);
  const lock = await world.lock();
  const outcome = interrupted ? 'interrupted' : outcomeOf(execution, world.engine.notifications);
  const verdict: Verdict = interrupted
    ? {
        asDesigned: false,
        exitCode: EXIT.interrupted,
        text: 'interrupted: stopped before the procedure ended',
      }
    : verdictOf({
        execution: rehearsed,
        outcome,
        failAt: options.failAt,
        errorSpikeAtPhase: options.errorSpikeAtPhase,
        executions: world.engine.executions,
      });
  const reports = await exportReports(world.s3.client, world.config.changeRecords.bucket, dir).catch(
    () => [] as string[],
  );

  write('');
  write(c.bold(interrupted ? 'Summary (interrupted: partial)' : 'Summary'));
  write(`  verdict        ${verdict.asDesigned ? c.green(verdict.text) : c.red(verdict.text)}`);
  write(`  outcome        ${colorOutcome(c, execution, outcome)}`);
  if (execution.status !== 'SUCCEEDED' && execution.cause) write(`  why            ${execution.cause}`);
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
  }
  const incident = execution.output as { phases?: Record<string, number | null> } | undefined;
  if ((procedure === 'rollback-router' || rehearsed !== execution) && incident?.phases) {
    for (const line of await culpritLines(reports, rehearsed)) write(line);
    write(
      `  phases         ${Object.entries(incident.phases)
        .map(([k, v]) => `${k} ${v === null ? 'n/a' : `${v} s`}`)
        .join(', ')}`,
    );
  }
  const drilled = execution.output as { phases?: Record<string, number>; withinTarget?: boolean } | undefined;
  if (procedure === 'drill' && drilled?.phases) {
    write(
      `  drill phases   ${Object.entries(drilled.phases)
        .map(([k, v]) => `${k} ${v} s`)
        .join(
          ', ',
        )} (seed 004 target alarm -> verified < 15 min: ${drilled.withinTarget ? 'met' : 'MISSED'})`,
    );
  }
  write(`  lock           ${lock ? `HELD by ${lock.owner} (${lock.status})` : 'released'}`);
  for (const n of world.engine.notifications.filter((n) => n.executionArn === execution.arn)) {
    write(`  notification   ${n.subject}`);
  }
  // The change journal, as `switchback history` would list it (Switchback's own changes included).
  const journal = await world.journalEntries().catch(() => []);
  write(`  journal        ${journal.length} entries (newest last)`);
  for (const e of journal.slice(-6)) write(c.dim(`    ${describeEntry(e)}`));
  for (const file of reports.filter((f) => f.endsWith('.md'))) {
    write(`  report         ${relative(process.cwd(), file) || file}`);
  }
  const reportJson = join(dir, 'report.json');
  write(`  everything     ${relative(process.cwd(), reportJson) || reportJson}`);
  write(`  total          ${((Date.now() - o.started) / 1000).toFixed(1)} s`);
  writeFileSync(
    reportJson,
    `${JSON.stringify(
      {
        procedure,
        outcome,
        verdict,
        interrupted,
        flags,
        lock: lock ?? null,
        endpoints: world.config.endpoints,
        reports: reports.map((f) => relative(dir, f)),
        executions: world.engine.executions,
        notifications: world.engine.notifications,
        journal,
        logs: world.logs.entries,
      },
      null,
      2,
    )}\n`,
  );
  return {
    execution,
    outcome,
    flags,
    apiProvider: after?.body.provider as string | undefined,
    lock,
    dir,
    verdict,
    reports,
  };
}

function placeholderExecution(procedure: string): ExecutionRecord {
  return {
    procedure,
    arn: `not-started:${procedure}`,
    name: 'not started',
    input: null,
    parentArn: undefined,
    status: 'ABORTED',
    startedAt: Date.now(),
    events: [],
    steps: [],
  };
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

/** The culprit the router chose (its incident report) and the last known good the rollback went back to. */
async function culpritLines(reports: readonly string[], rehearsed: ExecutionRecord): Promise<string[]> {
  const json = reports.find((f) => f.includes('incidents') && f.endsWith('.json'));
  const lines: string[] = [];
  if (json) {
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      considered?: { rolledBack: boolean; what: string; actor: string | null; why: string }[];
    };
    for (const c of report.considered ?? []) {
      lines.push(
        `  ${(c.rolledBack ? 'culprit' : 'considered').padEnd(14)} ${c.what}${c.actor ? ` (by ${c.actor})` : ''}: ${c.why}`,
      );
    }
  }
  const changes = (rehearsed.output as { changes?: string[] } | undefined)?.changes ?? [];
  for (const change of changes) lines.push(`  ${'last known good'.padEnd(14)} ${change}`);
  return lines;
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

/** A local engine event as the shared renderer's step event (AWS histories go through `fromHistory`). */
export function stepEventOf(
  execution: ExecutionRecord,
  event: EventLog,
  depth: number,
): StepEvent | undefined {
  const base = { procedure: execution.procedure, execution: execution.name, depth };
  if (event.type === 'ExecutionStarted') return { ...base, kind: 'started', input: execution.input };
  if (!('state' in event)) return undefined;
  const { name, type } = event.state;
  const step = [...execution.steps].reverse().find((s) => s.state === name);
  const common = { ...base, state: name, stateType: type, durationMs: step?.durationMs };
  if (event.type === 'StateExited' && step?.outcome === 'succeeded')
    return { ...common, kind: 'exited', output: event.state.output };
  if (event.type === 'StateRetried') return { ...common, kind: 'retried' };
  if (event.type === 'StateCaught') return { ...common, kind: 'caught', error: step?.error };
  if (event.type === 'StateFailed' && type === 'Fail')
    return { ...common, kind: 'failed', error: event.Error, durationMs: undefined };
  return undefined;
}

function printEvent(
  write: (l: string) => void,
  c: Palette,
  execution: ExecutionRecord,
  event: EventLog,
  world?: World,
) {
  const step = stepEventOf(execution, event, depthOf(world, execution));
  const line = step ? renderEvent(step, c) : undefined;
  if (line !== undefined) write(line);
}

export { procedureNames };
