import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
  paginateGetExecutionHistory,
  paginateListExecutions,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, PutParameterCommand, paginateGetParametersByPath } from '@aws-sdk/client-ssm';
import type { z } from 'zod';
import { DatabaseRollbackInput } from '../functions/database-input/database-input';
import { FeatureDisableInput } from '../functions/feature-input/feature-input';
import { SwitchbackError } from '../functions/shared/errors';
import { flagParameterName } from '../functions/shared/flags';
import { ProviderRollbackInput } from '../functions/validate-input/validate-input';
import { COMPENSATIONS, type ProcedureName } from '../procedures';
import { type AwsClients, defaultClients, discovery, releaseLockOwnedBy } from './aws';
import { type Palette, palette } from './palette';
import {
  at,
  findingOf,
  fromHistory,
  parseHistoryJson,
  renderEvent,
  type StepEvent,
  stateDefinition,
} from './render';

/** What an operator command cannot do as asked; it changed nothing (or says exactly what it did). */
export class OperatorCommandError extends SwitchbackError {}

export type OperatorClients = Pick<AwsClients, 'ssm' | 'sfn' | 'dynamodb'>;

export interface OperatorOptions {
  readonly env: string;
  readonly write: (line: string) => void;
  readonly clients?: OperatorClients;
  /** Machine-readable output: one JSON document (or one per line for `watch`). */
  readonly json?: boolean;
  readonly color?: boolean;
}

function clientsOf(o: OperatorOptions): OperatorClients {
  return o.clients ?? defaultClients();
}

/** The procedures a deployed stack published: name -> state machine ARN. */
export async function deployedProcedures(o: OperatorOptions): Promise<Map<string, string>> {
  const prefix = `${discovery(o.env).prefix}/procedures/`;
  const found = new Map<string, string>();
  for await (const page of paginateGetParametersByPath(
    { client: clientsOf(o).ssm },
    { Path: prefix, Recursive: false },
  )) {
    for (const p of page.Parameters ?? [])
      if (p.Name && p.Value) found.set(p.Name.slice(prefix.length), p.Value);
  }
  if (!found.size)
    throw new OperatorCommandError(
      `No procedures are published under ${prefix}: is the Switchback stack deployed for ${o.env}, and are the region and credentials those of its account (--region, --profile)?`,
    );
  return found;
}

/** `switchback-<env>-<procedure>` -> `<procedure>`. */
export function procedureOf(stateMachineArn: string | undefined, env: string): string {
  const name = stateMachineArn?.split(':').at(-1) ?? '';
  return name.startsWith(`switchback-${env}-`) ? name.slice(`switchback-${env}-`.length) : name;
}

/** The named execution, or the one running in the environment (any procedure); refuses 0 or several. */
export async function resolveExecution(
  o: OperatorOptions & { readonly execution?: string },
): Promise<string> {
  if (o.execution) return o.execution;
  const running = (await runningExecutions(clientsOf(o).sfn, await deployedProcedures(o))).map(
    (e) => e.executionArn,
  );
  if (running.length === 1) return running[0] as string;
  throw new OperatorCommandError(
    running.length
      ? `${running.length} executions are running in ${o.env}; name one:\n  ${running.join('\n  ')}`
      : `Nothing is running in ${o.env}; name an execution (see \`switchback executions --env ${o.env}\`).`,
  );
}

export async function historyOf(sfn: OperatorClients['sfn'], executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  for await (const page of paginateGetExecutionHistory(
    { client: sfn },
    { executionArn, maxResults: 1000, includeExecutionData: true },
  ))
    events.push(...(page.events ?? []));
  return events;
}

/** The Step Functions console page of an execution. */
export function consoleLink(executionArn: string): string {
  const region = executionArn.split(':')[3] ?? '';
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** Nested executions a history started (`states:startExecution`), by the child's ARN. */
function childrenOf(history: readonly HistoryEvent[]): string[] {
  const arns: string[] = [];
  for (const e of history) {
    const d = e.taskSubmittedEventDetails ?? e.taskSucceededEventDetails;
    if (d?.resourceType !== 'states' || !d.resource?.startsWith('startExecution')) continue;
    try {
      const arn = (JSON.parse(d.output ?? '{}') as { ExecutionArn?: unknown }).ExecutionArn;
      if (typeof arn === 'string' && !arns.includes(arn)) arns.push(arn);
    } catch {
      // An output that is not JSON names no child.
    }
  }
  return arns;
}

/**
 * Where the execution is now: the state entered and not yet left, for how long, what is left of a
 * wait (a rollout's bake interval), and for a rollout the phase and the gate evaluation it is at.
 */
export function whereNow(
  history: readonly HistoryEvent[],
  procedure: string,
  now: number,
): string | undefined {
  let current: { name: string; at: number; type: string; input: unknown } | undefined;
  let phase: string | undefined;
  let evaluation: string | undefined;
  for (const e of history) {
    const m = /^(\w+?)State(Entered|Exited)$/.exec(e.type ?? '');
    if (!m) continue;
    const name = e.stateEnteredEventDetails?.name ?? e.stateExitedEventDetails?.name ?? '';
    if (m[2] === 'Entered') {
      current = {
        name,
        at: new Date(e.timestamp ?? 0).getTime(),
        type: m[1] ?? '',
        input: parseHistoryJson(e.stateEnteredEventDetails?.input),
      };
      continue;
    }
    current = undefined;
    const output = parseHistoryJson(e.stateExitedEventDetails?.output);
    if (name === 'StartPhase') {
      phase = findingOf(procedure, name, output)?.text.split(':')[0];
      evaluation = undefined;
    }
    if (name === 'EvaluateGate') {
      const of = at(output, '$.cursor.phase.evaluations');
      evaluation = `gate evaluation ${String(at(output, '$.gate.evaluation'))}${typeof of === 'number' ? `/${of}` : ''}`;
    }
  }
  if (!current) return undefined;
  const since = Math.max(0, Math.round((now - current.at) / 1000));
  let what = `running ${since} s`;
  if (current.type === 'Wait') {
    const def = stateDefinition(procedure, current.name);
    const seconds =
      typeof def?.Seconds === 'number'
        ? def.Seconds
        : at(current.input, def?.SecondsPath as string | undefined);
    what =
      typeof seconds === 'number'
        ? `waiting, next step in ${Math.max(0, seconds - since)} s`
        : `waiting ${since} s`;
  } else if (current.name === 'AwaitApproval') what = `waiting ${since} s for \`switchback approve\``;
  return [`now ${current.name} (${what})`, phase, evaluation].filter(Boolean).join(', ');
}

export interface WatchOptions extends OperatorOptions {
  readonly execution?: string;
  readonly pollMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * `switchback watch`: follows an execution (and the executions it starts) through its history
 * until it ends, printing each state as it completes with what it found. Exit 0 when it
 * succeeded, 1 otherwise.
 */
export async function watch(o: WatchOptions): Promise<number> {
  const { sfn } = clientsOf(o);
  const c: Palette = palette(o.color ?? false);
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const root = await resolveExecution(o);
  const followed = new Map<string, { depth: number; printed: number; procedure: string; name: string }>();
  const follow = (arn: string, depth: number, stateMachineArn?: string) => {
    if (!followed.has(arn))
      followed.set(arn, {
        depth,
        printed: 0,
        procedure: procedureOf(stateMachineArn ?? arn.split(':').slice(0, -1).join(':'), o.env),
        name: arn.split(':').at(-1) ?? arn,
      });
  };
  let described: DescribeExecutionCommandOutput = await sfn.send(
    new DescribeExecutionCommand({ executionArn: root }),
  );
  follow(root, 0, described.stateMachineArn);
  if (!o.json) o.write(c.dim(`console ${consoleLink(root)}`));
  let lastNow: string | undefined;
  for (;;) {
    let rootHistory: HistoryEvent[] = [];
    for (const [arn, f] of followed) {
      const history = await historyOf(sfn, arn);
      if (arn === root) rootHistory = history;
      const events = fromHistory(history, { procedure: f.procedure, execution: f.name, depth: f.depth });
      for (const e of events.slice(f.printed)) emit(o, c, e);
      f.printed = events.length;
      for (const child of childrenOf(history)) follow(child, f.depth + 1);
    }
    if (described.status !== 'RUNNING') break;
    const where = whereNow(rootHistory, procedureOf(described.stateMachineArn, o.env), now());
    if (where && where !== lastNow && !o.json) o.write(c.dim(`  .. ${where}`));
    lastNow = where;
    await sleep(o.pollMs ?? 5_000);
    described = await sfn.send(new DescribeExecutionCommand({ executionArn: root }));
  }
  const ok = described.status === 'SUCCEEDED';
  const end = `${described.status}${described.error ? ` ${described.error}` : ''}${described.cause ? `: ${described.cause}` : ''}`;
  if (o.json)
    o.write(
      JSON.stringify({
        kind: 'result',
        executionArn: root,
        status: described.status,
        error: described.error ?? null,
        cause: described.cause ?? null,
      }),
    );
  else {
    o.write(`${ok ? c.green('ended') : c.red('ended')} ${end}`);
    if (described.output) o.write(described.output);
  }
  return ok ? 0 : 1;
}

function emit(o: OperatorOptions, c: Palette, e: StepEvent) {
  if (o.json) {
    if (e.kind !== 'ended') o.write(JSON.stringify({ ...e, input: undefined }));
    return;
  }
  const line = renderEvent(e, c);
  if (line !== undefined) o.write(line);
}

/** `switchback describe <execution>`: its status, times, input, path and how it ended. */
export async function describeExecution(
  o: OperatorOptions & { readonly execution: string },
): Promise<number> {
  const { sfn } = clientsOf(o);
  const d = await sfn.send(new DescribeExecutionCommand({ executionArn: o.execution }));
  const history = await historyOf(sfn, o.execution);
  const procedure = procedureOf(d.stateMachineArn, o.env);
  const path = fromHistory(history, { procedure, execution: d.name ?? '' })
    .filter(
      (e) =>
        (e.kind === 'exited' || e.kind === 'caught' || e.kind === 'failed') &&
        e.stateType !== 'Choice' &&
        e.stateType !== 'Pass',
    )
    .map((e) => `${e.state}${e.kind === 'caught' ? ` (${e.error} caught)` : ''}`);
  const summary = {
    executionArn: o.execution,
    procedure,
    status: d.status,
    startDate: d.startDate?.toISOString() ?? null,
    stopDate: d.stopDate?.toISOString() ?? null,
    error: d.error ?? null,
    cause: d.cause ?? null,
    input: d.input ? JSON.parse(d.input) : null,
    path,
    console: consoleLink(o.execution),
  };
  if (o.json) o.write(JSON.stringify(summary, null, 2));
  else {
    o.write(`${procedure} ${d.name}  ${d.status}`);
    o.write(`  started  ${summary.startDate}${summary.stopDate ? `, stopped ${summary.stopDate}` : ''}`);
    if (d.error) o.write(`  ended    ${d.error}: ${d.cause ?? ''}`);
    o.write(`  input    ${d.input ?? ''}`);
    o.write(`  path     ${path.join(' > ')}`);
    o.write(`  console  ${summary.console}`);
  }
  return 0;
}

/** A running execution of one of the environment's procedures. */
export interface RunningExecution {
  readonly procedure: string;
  readonly executionArn: string;
  readonly name: string;
  readonly startDate: Date;
}

/** The executions running now, of every procedure but the lock janitor, oldest first. */
export async function runningExecutions(
  sfn: OperatorClients['sfn'],
  procedures: ReadonlyMap<string, string>,
): Promise<RunningExecution[]> {
  const running: RunningExecution[] = [];
  for (const [procedure, arn] of procedures) {
    if (procedure === 'lock-janitor') continue;
    for await (const page of paginateListExecutions(
      { client: sfn },
      { stateMachineArn: arn, statusFilter: 'RUNNING' },
    )) {
      for (const e of page.executions ?? [])
        if (e.executionArn)
          running.push({
            procedure,
            executionArn: e.executionArn,
            name: e.name ?? '',
            startDate: e.startDate ?? new Date(0),
          });
    }
  }
  return running.sort((a, b) => a.startDate.getTime() - b.startDate.getTime());
}

/** `switchback executions`: recent executions of the environment's procedures, newest first. */
export async function listExecutions(
  o: OperatorOptions & { readonly procedure?: string; readonly limit: number },
): Promise<number> {
  const { sfn } = clientsOf(o);
  const procedures = await deployedProcedures(o);
  const rows: {
    procedure: string;
    name: string;
    status: string;
    startDate: Date;
    stopDate?: Date;
    executionArn: string;
  }[] = [];
  for (const [name, arn] of procedures) {
    if (o.procedure ? name !== o.procedure : name === 'lock-janitor') continue;
    let seen = 0;
    for await (const page of paginateListExecutions(
      { client: sfn, pageSize: Math.min(o.limit, 100) },
      { stateMachineArn: arn },
    )) {
      for (const e of page.executions ?? []) {
        rows.push({
          procedure: name,
          name: e.name ?? '',
          status: e.status ?? '',
          startDate: e.startDate ?? new Date(0),
          stopDate: e.stopDate,
          executionArn: e.executionArn ?? '',
        });
        seen += 1;
      }
      // ListExecutions returns newest first: the newest `limit` of each is enough.
      if (seen >= o.limit) break;
    }
  }
  if (o.procedure && !procedures.has(o.procedure))
    throw new OperatorCommandError(
      `${o.procedure} is not deployed in ${o.env}; deployed: ${[...procedures.keys()].join(', ')}`,
    );
  rows.sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
  const shown = rows.slice(0, o.limit);
  if (o.json) {
    o.write(
      JSON.stringify(
        shown.map((r) => ({
          ...r,
          startDate: r.startDate.toISOString(),
          stopDate: r.stopDate?.toISOString() ?? null,
        })),
        null,
        2,
      ),
    );
    return 0;
  }
  if (!shown.length) {
    o.write(`no executions in ${o.env}`);
    return 0;
  }
  o.write(
    `${'started'.padEnd(24)} ${'procedure'.padEnd(18)} ${'status'.padEnd(10)} ${'took'.padEnd(8)} name`,
  );
  for (const r of shown) {
    const took = r.stopDate ? `${Math.round((r.stopDate.getTime() - r.startDate.getTime()) / 1000)} s` : '-';
    o.write(
      `${r.startDate.toISOString().padEnd(24)} ${r.procedure.padEnd(18)} ${r.status.padEnd(10)} ${took.padEnd(8)} ${r.name}`,
    );
  }
  return 0;
}

export interface PauseOptions extends OperatorOptions {
  readonly paused: boolean;
  readonly reason: string;
  readonly by: string;
  readonly at?: Date;
}

/**
 * `switchback pause` / `resume`: the kill switch `automation/paused`. Paused, every rollback alarm
 * only notifies. Who and why go into the parameter's description (its history keeps each version).
 */
export async function setPaused(o: PauseOptions): Promise<number> {
  const { ssm } = clientsOf(o);
  const name = flagParameterName(discovery(o.env).prefix, 'automation/paused');
  const current = await ssm.send(new GetParameterCommand({ Name: name }));
  const value = o.paused ? 'true' : 'false';
  const at = (o.at ?? new Date()).toISOString();
  const description = `${o.paused ? 'Paused' : 'Resumed'} by ${o.by} at ${at}: ${o.reason}`.slice(0, 1024);
  if (current.Parameter?.Value === value) {
    o.write(
      `automation in ${o.env} is already ${o.paused ? 'paused' : 'running'} (v${current.Parameter.Version}); nothing changed.`,
    );
    return 0;
  }
  const out = await ssm.send(
    new PutParameterCommand({ Name: name, Value: value, Overwrite: true, Description: description }),
  );
  o.write(
    o.json
      ? JSON.stringify({ parameter: name, value, version: out.Version, description })
      : `${name} = ${value} (v${out.Version}): ${o.paused ? `rollback alarms in ${o.env} now only notify` : `rollback alarms in ${o.env} start rollbacks again`}. ${description}`,
  );
  return 0;
}

/** What undoes each procedure an operator can abort, and its input (validated before it starts). */
const ABORTS: Partial<Record<ProcedureName, { rollback: ProcedureName; schema: z.ZodType }>> = {
  'provider-cutover': { rollback: 'provider-rollback', schema: ProviderRollbackInput },
  'database-cutover': { rollback: 'database-rollback', schema: DatabaseRollbackInput },
  'feature-rollout': { rollback: 'feature-disable', schema: FeatureDisableInput },
};

export interface AbortOptions extends WatchOptions {
  readonly reason: string;
  readonly by: string;
  /** Seconds to let a step already running finish after the stop, before the history is read. */
  readonly settleSeconds?: number;
  /** Start the rollback and return, without watching it. */
  readonly noWait?: boolean;
}

/**
 * `switchback abort`: stops a cutover the way the rollback router does, never a bare stop. The
 * lock is taken over for the rollback (conditionally on the cutover still owning it) before the
 * cutover is stopped, so its janitor leaves the lock alone; after a settle time, if the cutover
 * had reached its point of no return, its rollback runs from the change record and is watched to
 * its verified end; if not, nothing had changed and the lock is released. A feature rollout is
 * aborted by the emergency disable, which does not need the lock: the rollout stops at its next step.
 */
export async function abort(o: AbortOptions): Promise<number> {
  const { sfn, ssm, dynamodb } = clientsOf(o);
  const executionArn = await resolveExecution(o);
  const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  const procedure = procedureOf(d.stateMachineArn, o.env) as ProcedureName;
  const plan = ABORTS[procedure];
  if (!plan)
    throw new OperatorCommandError(
      `${procedure} cannot be aborted: abort undoes ${Object.keys(ABORTS).join(', ')}. Nothing was changed.`,
    );
  if (d.status !== 'RUNNING')
    throw new OperatorCommandError(
      `${d.name} is ${d.status}, not running: nothing to abort. Nothing was changed.`,
    );
  const table = (await ssm.send(new GetParameterCommand({ Name: discovery(o.env).lockTable }))).Parameter
    ?.Value;
  if (!table) throw new OperatorCommandError(`No lock table is published for ${o.env}. Nothing was changed.`);
  const lock = (
    await dynamodb.send(
      new GetItemCommand({ TableName: table, Key: { pk: { S: o.env } }, ConsistentRead: true }),
    )
  ).Item;
  if (lock?.owner?.S !== executionArn || lock.status?.S !== 'held')
    throw new OperatorCommandError(
      `The ${o.env} lock is ${lock ? `held by ${lock.owner?.S} (${lock.status?.S})` : 'free'}, not by ${d.name}: it is not the change in flight. Nothing was changed.`,
    );
  const changeId = lock.changeId?.S;
  const rollbackSm = (
    await ssm.send(new GetParameterCommand({ Name: discovery(o.env).procedure(plan.rollback) }))
  ).Parameter?.Value;
  if (!rollbackSm)
    throw new OperatorCommandError(`${plan.rollback} is not deployed in ${o.env}. Nothing was changed.`);
  const cause = `Aborted by ${o.by}: ${o.reason}`.slice(0, 32_768);
  const name = `abort-${d.name}`.slice(0, 80);
  const input =
    plan.rollback === 'feature-disable'
      ? {
          reason: `Operator abort of rollout ${d.name}: ${o.reason}`,
          requestedBy: o.by,
          ...(changeId ? { rolloutId: changeId } : {}),
          trigger: { source: 'operator', error: 'AbortedByOperator', cause },
        }
      : {
          reason: `Operator abort of ${d.name}: ${o.reason}`,
          requestedBy: o.by,
          ...(changeId ? { changeId } : {}),
          trigger: { source: 'operator', error: 'AbortedByOperator', cause },
        };
  // Validate first, with the rollback's own schema: a refused input starts nothing.
  const parsed = plan.schema.safeParse(input);
  if (!parsed.success)
    throw new OperatorCommandError(
      `The ${plan.rollback} input would be refused: ${parsed.error.message}. Nothing was changed.`,
    );
  const start = async () => {
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: rollbackSm, name, input: JSON.stringify(input) }),
    );
    o.write(`started ${plan.rollback} ${started.executionArn}`);
    return started.executionArn ?? '';
  };

  if (plan.rollback === 'feature-disable') {
    const arn = await start();
    o.write(
      `The rollout ${d.name} stops at its next step (RolloutInterruptedError); the feature goes off for everyone.`,
    );
    return o.noWait ? 0 : watch({ ...o, execution: arn });
  }

  const rollbackArn = `${rollbackSm.replace(':stateMachine:', ':execution:')}:${name}`;
  try {
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: o.env } },
        UpdateExpression:
          'SET #owner = :next, holder = :next, #procedure = :procedure, takenOverFrom = :previous',
        ConditionExpression: '#owner = :previous AND #status = :held',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status', '#procedure': 'procedure' },
        ExpressionAttributeValues: {
          ':next': { S: rollbackArn },
          ':previous': { S: executionArn },
          ':held': { S: 'held' },
          ':procedure': { S: plan.rollback },
        },
      }),
    );
  } catch (err) {
    if ((err as Error).name === 'ConditionalCheckFailedException')
      throw new OperatorCommandError(
        `The ${o.env} lock changed hands meanwhile; nothing was stopped. Run \`switchback status --env ${o.env}\`.`,
      );
    throw err;
  }
  o.write(`took the ${o.env} lock over from ${d.name} for ${name}`);
  await sfn.send(new StopExecutionCommand({ executionArn, error: 'AbortedByOperator', cause }));
  o.write(`stopped ${d.name}; letting a step in progress finish (${o.settleSeconds ?? 5} s)`);
  await (o.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms))))((o.settleSeconds ?? 5) * 1000);
  const history = await historyOf(sfn, executionArn);
  const pointOfNoReturn = COMPENSATIONS[procedure]?.from;
  const changed = history.some((e) => e.stateEnteredEventDetails?.name === pointOfNoReturn);
  if (!changed) {
    await releaseLockOwnedBy(dynamodb, table, o.env, rollbackArn);
    o.write(
      `${d.name} was stopped before ${pointOfNoReturn}: nothing had changed, nothing to roll back. Lock released.`,
    );
    return 0;
  }
  let arn: string;
  try {
    arn = await start();
  } catch (err) {
    o.write(
      `${plan.rollback} could not start (${(err as Error).name}: ${(err as Error).message}). The cutover is stopped after ${pointOfNoReturn} and the lock is held for ${rollbackArn}: start ${plan.rollback} with changeId ${changeId ?? '?'} by hand, or release it with \`switchback unlock --env ${o.env} --owner ${rollbackArn}\` once the flags are checked.`,
    );
    return 1;
  }
  return o.noWait ? 0 : watch({ ...o, execution: arn });
}
