import './polyfills';
import { randomUUID } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import { functionPlaceholder, STEP_NAMES, STEPS, type StepName } from '../functions';
import { InjectedFailureError } from '../functions/shared/errors';
import { type Deps, invokeStep } from '../functions/shared/step';
import { allStates, LOCK_TAKERS } from '../procedures';
import type { States } from '../procedures/asl';
import { INTEGRATION, RESOURCE, stateMachinePlaceholder } from '../procedures/integrations';
import type { LocalDynamo } from './adapters/lock-table';
import type { RecordingLog } from './adapters/recording-log';
import { TaskTokens } from './adapters/task-tokens';
import { procedureNames, readDefinitionText, substitute, taskStates } from './definitions';

/** One entry of the local engine's execution event log (the library does not export the type). */
export type EventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

const REGION = 'local-1';
const ACCOUNT = '000000000000';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

export interface StepRun {
  readonly state: string;
  readonly type: string;
  readonly startedAt: number;
  durationMs?: number;
  outcome?: 'succeeded' | 'failed' | 'caught';
  error?: string;
  retries: number;
}

export interface ExecutionRecord {
  readonly procedure: string;
  readonly arn: string;
  readonly name: string;
  readonly input: unknown;
  readonly parentArn: string | undefined;
  status: ExecutionStatus;
  output?: unknown;
  error?: string;
  cause?: string;
  readonly startedAt: number;
  stoppedAt?: number;
  readonly events: EventLog[];
  readonly steps: StepRun[];
}

export interface Notification {
  readonly topicArn: string;
  readonly subject: string;
  readonly message: string;
  readonly attributes: Record<string, string>;
  readonly executionArn: string;
}

/**
 * A fault the engine injects at a Task state of one procedure:
 * - `fail` (the default): the task throws InjectedFailureError every time it runs, before its work;
 * - `once`: the first run throws the integration's first transient error (the first name of the
 *   state's own first Retry, e.g. Lambda.ServiceException, DynamoDB.ThrottlingException), so the
 *   Retry absorbs it; a state without Retry gets InjectedFailureError once;
 * - `after`: the task does its work (its side effect happens), then throws InjectedFailureError.
 * `parent` limits it to executions started by that procedure (a nested execution, e.g. the rollback
 * a cutover runs as its compensation), so a second fault can be put inside the compensation.
 */
export interface Fault {
  readonly procedure: string;
  readonly state: string;
  readonly kind?: FaultKind;
  readonly parent?: string;
}
/** What a Task's integration returned, or the error it threw. */
export type TaskOutcome =
  | { readonly result: unknown }
  | { readonly error: { readonly name: string; readonly message: string } };

export type FaultKind = 'fail' | 'once' | 'after';

/**
 * A Task resource the engine can run: how an AWS service integration is emulated locally.
 * The built-in ones cover Lambda (the steps), DynamoDB, SNS and nested executions; a procedure
 * that uses another integration brings its own through `EngineOptions.integrations`.
 */
export interface Integration {
  /** Whether this integration runs the (substituted) Task `Resource`. */
  matches(resource: string): boolean;
  run(
    input: unknown,
    ctx: { execution: ExecutionRecord; state: string; resource: string; engine: LocalEngine },
  ): Promise<unknown>;
}

export type Hook = (ctx: { engine: LocalEngine; execution: ExecutionRecord }) => Promise<void> | void;

export interface EngineOptions {
  readonly environment: string;
  /** Step dependencies; `log` is replaced per step by one writing to `logs`. */
  readonly deps: Omit<Deps, 'log'>;
  readonly logs: RecordingLog;
  readonly dynamo: LocalDynamo;
  readonly lockTable: string;
  /** Faults to inject (the rehearsal's --fail-at and --fail-once-at, the sweep's). */
  readonly faults?: readonly Fault[];
  /** Run before a state's task, keyed `procedure:State`: how tests change the world mid-flight. */
  readonly hooks?: Readonly<Record<string, Hook>>;
  /** Duration of every Wait state (ms) instead of its Seconds/SecondsPath: tests poll fast. */
  readonly waitOverrideMs?: number;
  /** Pause between Retry attempts (ms). The ASL's own intervals are for AWS. */
  readonly retryIntervalMs?: number;
  /** More `${Placeholder}` values (a procedure's own resources), beside the built-in ones. */
  readonly substitutions?: Readonly<Record<string, string>>;
  /** More Task integrations, tried before the built-in ones. */
  readonly integrations?: readonly Integration[];
  /** Called with each Task's own result or error, before ResultSelector/ResultPath (the sweep records them). */
  readonly onTaskResult?: (execution: ExecutionRecord, state: string, outcome: TaskOutcome) => void;
  /** Called for each event as it happens (the rehearsal prints them). */
  readonly onEvent?: (execution: ExecutionRecord, event: EventLog) => void;
}

/** Validated state machines by their substituted definition text, shared by every engine. */
const MACHINES = new Map<string, StateMachine>();

/** State machines that the lock janitor's EventBridge rule watches (as the CDK stack wires it). */
const GUARDED: ReadonlySet<string> = new Set(LOCK_TAKERS);

/** The first error name of a Task's own first Retry: the transient error its integration retries. */
export function transientErrorOf(definition: Record<string, unknown>): string | undefined {
  const retry = definition.Retry as { ErrorEquals: string[] }[] | undefined;
  return retry?.[0]?.ErrorEquals[0];
}

export function functionArn(environment: string, step: StepName): string {
  return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:switchback-${environment}-${step}`;
}
export function stateMachineArn(environment: string, procedure: string): string {
  return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:switchback-${environment}-${procedure}`;
}

/**
 * Runs the repository's ASL files with aws-local-stepfunctions, every Task mapped to what it
 * does on AWS: Lambda ARNs to the in-process steps, DynamoDB tasks to a real DynamoDB API
 * (dynalite), SNS publishes to an outbox, nested executions to this engine. A Task it cannot
 * map is an error at load time: nothing falls through to real AWS.
 */
export class LocalEngine {
  readonly executions: ExecutionRecord[] = [];
  readonly notifications: Notification[] = [];
  private readonly definitions = new Map<string, Record<string, unknown>>();
  private readonly substitutions: Record<string, string>;
  /** Task tokens of `.waitForTaskToken` tasks: `sendTaskSuccess`/`sendTaskFailure` answer them. */
  readonly taskTokens = new TaskTokens();
  /** Abort handles of running executions, by ARN: how `stop` (StopExecution) reaches them. */
  private readonly running = new Map<
    string,
    { abort: () => void; stop?: { error: string; cause: string } }
  >();
  /** Once-only faults already spent. */
  private readonly spent = new Set<Fault>();
  /** Every fault injected so far, in order: what a report says was done to the run. */
  readonly injected: { readonly fault: Fault; readonly executionArn: string; readonly error: string }[] = [];

  constructor(private readonly options: EngineOptions) {
    const env = options.environment;
    this.substitutions = {
      Environment: env,
      LockTableName: options.lockTable,
      NotificationTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:switchback-${env}-notifications`,
      ...Object.fromEntries(STEP_NAMES.map((s) => [functionPlaceholder(s), functionArn(env, s)])),
      ...Object.fromEntries(
        procedureNames().map((p) => [stateMachinePlaceholder(p), stateMachineArn(env, p)]),
      ),
      ...options.substitutions,
    };
  }

  /**
   * A procedure's definition with placeholders filled, loaded on first use. Every Task must map to
   * an integration, checked here, before anything runs.
   */
  definition(procedure: string): Record<string, unknown> {
    const loaded = this.definitions.get(procedure);
    if (loaded) return loaded;
    if (!procedureNames().includes(procedure)) {
      throw new Error(`Unknown procedure "${procedure}"; known: ${procedureNames().join(', ')}`);
    }
    const definition = JSON.parse(substitute(readDefinitionText(procedure), this.substitutions));
    for (const task of taskStates(definition)) this.resolveTask(procedure, task.resource, task.name);
    this.definitions.set(procedure, definition);
    return definition;
  }

  /**
   * The procedure's state machine, validated once per definition text and reused by every
   * execution of every engine (a StateMachine keeps no state between runs; validating one takes
   * about half a second).
   */
  private machine(definition: Record<string, unknown>): StateMachine {
    const key = JSON.stringify(definition);
    let machine = MACHINES.get(key);
    if (!machine) {
      machine = new StateMachine(definition as never, { validationOptions: { checkPaths: true } });
      MACHINES.set(key, machine);
    }
    return machine;
  }

  /** Starts an execution; `done` settles when it ends (it never rejects). */
  start(procedure: string, input: unknown, opts: { name?: string; parentArn?: string } = {}) {
    const definition = this.definition(procedure);
    const name =
      opts.name ??
      `${procedure}-${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`;
    const arn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:switchback-${this.options.environment}-${procedure}:${name}`;
    const record: ExecutionRecord = {
      procedure,
      arn,
      name,
      input,
      parentArn: opts.parentArn,
      status: 'RUNNING',
      startedAt: Date.now(),
      events: [],
      steps: [],
    };
    this.executions.push(record);

    const overrides: Record<string, (input: unknown) => Promise<never>> = {};
    const retryIntervalOverrides: Record<string, number> = {};
    for (const task of taskStates(definition as never)) {
      const run = this.resolveTask(procedure, task.resource, task.name);
      overrides[task.name] = async (taskInput: unknown) => {
        await this.options.hooks?.[`${procedure}:${task.name}`]?.({ engine: this, execution: record });
        const fault = this.faultAt(record, task.name);
        if (fault && fault.kind !== 'after') throw this.inject(fault, record, task.definition);
        let result: never;
        try {
          result = (await run(taskInput, record)) as never;
        } catch (err) {
          const { name, message } = err as Error;
          this.options.onTaskResult?.(record, task.name, { error: { name, message } });
          throw err;
        }
        this.options.onTaskResult?.(record, task.name, { result });
        if (fault) throw this.inject(fault, record, task.definition);
        return result;
      };
      if (task.definition.Retry) retryIntervalOverrides[task.name] = this.options.retryIntervalMs ?? 0;
    }

    const waitTimeOverrides: Record<string, number> = {};
    if (this.options.waitOverrideMs !== undefined) {
      // Every Wait, those inside Map processors and Parallel branches too.
      for (const [name, state] of allStates((definition as { States: States }).States)) {
        if (state.Type === 'Wait') waitTimeOverrides[name] = this.options.waitOverrideMs;
      }
    }
    const machine = this.machine(definition);
    const tokens = this.taskTokens;
    const execution = machine.run(input as never, {
      overrides: { taskResourceLocalHandlers: overrides as never, retryIntervalOverrides, waitTimeOverrides },
      context: {
        Execution: { Id: arn, Name: name, Input: input, StartTime: new Date(record.startedAt).toISOString() },
        StateMachine: { Id: stateMachineArn(this.options.environment, procedure), Name: procedure },
        // `$$.Task.Token`: a fresh token each time a task state's Parameters read it.
        Task: {
          get Token() {
            return tokens.issue(arn);
          },
        },
      } as never,
    });

    const consume = (async () => {
      for await (const event of execution.eventLogs) {
        record.events.push(event);
        this.track(record, event);
        // A callback task that failed (its timeout, or a failure sent for it) stops waiting.
        if ((event.type === 'StateFailed' || event.type === 'StateCaught') && 'state' in event)
          this.taskTokens.expire(record.arn, event.state.name);
        this.options.onEvent?.(record, event);
      }
    })();

    const handle: { abort: () => void; stop?: { error: string; cause: string } } = {
      abort: () => execution.abort(),
    };
    this.running.set(arn, handle);
    const done = (async (): Promise<ExecutionRecord> => {
      try {
        record.output = await execution.result;
        record.status = 'SUCCEEDED';
      } catch (err) {
        const e = err as Error & { cause?: Error & { cause?: string } };
        if (e.name === 'ExecutionAbortedError') record.status = 'ABORTED';
        else if (e.name === 'ExecutionTimeoutError') record.status = 'TIMED_OUT';
        else record.status = 'FAILED';
        const inner = e.cause;
        record.error = handle.stop?.error ?? inner?.name ?? e.name;
        record.cause =
          handle.stop?.cause ??
          (typeof inner?.cause === 'string' ? inner.cause : (inner?.message ?? e.message));
      }
      this.running.delete(arn);
      this.taskTokens.expire(arn);
      record.stoppedAt = Date.now();
      await consume.catch(() => undefined);
      if (record.status !== 'SUCCEEDED' && GUARDED.has(procedure)) await this.emitStatusChange(record);
      return record;
    })();

    return { arn, record, abort: () => execution.abort(), done };
  }

  /** The fault that applies to this run of `state` in `execution`, if any. */
  private faultAt(execution: ExecutionRecord, state: string): Fault | undefined {
    const parent = execution.parentArn
      ? this.executions.find((e) => e.arn === execution.parentArn)?.procedure
      : undefined;
    return this.options.faults?.find(
      (f) =>
        f.procedure === execution.procedure &&
        f.state === state &&
        (f.parent === undefined || f.parent === parent) &&
        !this.spent.has(f),
    );
  }

  /** The error a fault throws (and the record of it); a once-only fault is spent. */
  private inject(fault: Fault, execution: ExecutionRecord, definition: Record<string, unknown>): Error {
    const at = `${fault.procedure}:${fault.state}`;
    let error: Error;
    if (fault.kind === 'once') {
      this.spent.add(fault);
      const transient = transientErrorOf(definition);
      error = transient
        ? Object.assign(new Error(`Transient ${transient} injected once at ${at}`), { name: transient })
        : new InjectedFailureError(`Failure injected once at ${at} (the state has no Retry)`);
    } else {
      error = new InjectedFailureError(
        `Failure injected at ${at}${fault.kind === 'after' ? ' after its task ran' : ''} by the rehearsal`,
      );
    }
    this.injected.push({ fault, executionArn: execution.arn, error: error.name });
    return error;
  }

  /**
   * StopExecution: aborts a running execution by ARN (its nested `.sync` executions too, as Step
   * Functions does). A step invocation already in progress still finishes, as a Lambda would; no
   * state after it runs. Stopping an execution that already ended changes nothing.
   */
  stop(arn: string, details: { error?: string; cause?: string } = {}): { StopDate: number } {
    const record = this.executions.find((e) => e.arn === arn);
    if (!record) {
      throw Object.assign(new Error(`Execution Does Not Exist: '${arn}'`), {
        name: 'Sfn.ExecutionDoesNotExistException',
      });
    }
    const handle = this.running.get(arn);
    if (handle) {
      for (const child of this.executions.filter((e) => e.parentArn === arn && e.status === 'RUNNING'))
        this.stop(child.arn, details);
      handle.stop = { error: details.error ?? 'ExecutionAborted', cause: details.cause ?? '' };
      handle.abort();
    }
    return { StopDate: record.stoppedAt ?? Date.now() };
  }

  /** SendTaskSuccess: resumes the task waiting on `token` with `output` as its result. */
  sendTaskSuccess(token: string, output: unknown): void {
    this.taskTokens.succeed(token, output);
  }

  /** SendTaskFailure: fails the task waiting on `token` with `error` (what its Catch matches). */
  sendTaskFailure(token: string, error: string, cause?: string): void {
    this.taskTokens.fail(token, error, cause);
  }

  /** Tasks waiting for a callback, oldest first. */
  pendingTasks() {
    return this.taskTokens.pending();
  }

  /** Starts an execution and waits for it to end. */
  async run(procedure: string, input: unknown, opts: { name?: string; parentArn?: string } = {}) {
    return this.start(procedure, input, opts).done;
  }

  /** EventBridge `Step Functions Execution Status Change` -> the lock janitor, as the stack wires it. */
  private async emitStatusChange(record: ExecutionRecord): Promise<void> {
    await this.run('lock-janitor', {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: ACCOUNT,
      region: REGION,
      time: new Date().toISOString(),
      resources: [record.arn],
      detail: {
        executionArn: record.arn,
        stateMachineArn: stateMachineArn(this.options.environment, record.procedure),
        name: record.name,
        status: record.status,
        startDate: record.startedAt,
        stopDate: record.stoppedAt ?? null,
      },
    });
  }

  private track(record: ExecutionRecord, event: EventLog): void {
    if (!('state' in event) || event.type === undefined) return;
    const last = [...record.steps].reverse().find((s) => s.state === event.state.name);
    switch (event.type) {
      case 'StateEntered':
        record.steps.push({
          state: event.state.name,
          type: event.state.type,
          startedAt: event.timestamp,
          retries: 0,
        });
        break;
      case 'StateExited':
        if (last) {
          last.durationMs = event.timestamp - last.startedAt;
          last.outcome ??= 'succeeded';
        }
        break;
      case 'StateFailed':
        if (last) {
          last.durationMs = event.timestamp - last.startedAt;
          last.outcome = 'failed';
          last.error = event.Error;
        }
        break;
      case 'StateCaught':
        if (last) {
          last.durationMs ??= event.timestamp - last.startedAt;
          last.outcome = 'caught';
        }
        break;
      case 'StateRetried':
        if (last) last.retries += 1;
        break;
    }
  }

  private resolveTask(
    procedure: string,
    resource: string,
    state: string,
  ): (input: unknown, execution: ExecutionRecord) => Promise<unknown> {
    const custom = this.options.integrations?.find((i) => i.matches(resource));
    if (custom) return (input, execution) => custom.run(input, { execution, state, resource, engine: this });
    const step = STEP_NAMES.find((s) => functionArn(this.options.environment, s) === resource);
    if (step) {
      return (input, execution) =>
        invokeStep(STEPS[step] as never, input, {
          ...this.options.deps,
          log: this.options.logs.forStep(step, execution.arn),
        });
    }
    const dynamo = INTEGRATION.dynamodb.exec(resource);
    if (dynamo) return (input) => this.options.dynamo.integration(dynamo[1] as string, input);
    if (resource === RESOURCE.snsPublish) return (input, execution) => this.publish(input, execution);
    if (resource === RESOURCE.lambdaInvokeWaitForTaskToken) {
      return (input, execution) => this.invokeAndWait(input, execution, state);
    }
    if (resource === RESOURCE.startExecutionSync) {
      return (input, execution) => this.startChild(input, execution);
    }
    if (resource === RESOURCE.stopExecution) {
      return async (input) => {
        const p = input as { ExecutionArn: string; Error?: string; Cause?: string };
        return this.stop(p.ExecutionArn, { error: p.Error, cause: p.Cause });
      };
    }
    throw new Error(`${procedure}:${state} uses resource ${resource}, which the local engine cannot run`);
  }

  private async publish(input: unknown, execution: ExecutionRecord) {
    const p = input as {
      TopicArn: string;
      Subject?: string;
      Message: unknown;
      MessageAttributes?: Record<string, { StringValue: string }>;
    };
    if (p.TopicArn !== this.substitutions.NotificationTopicArn)
      throw new Error(`SNS.NotFoundException: ${p.TopicArn}`);
    // SNS: "Subjects must be UTF-8 text with no line breaks or control characters, and less than
    // 100 characters long."
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    if ((p.Subject ?? '').length >= 100 || /[\u0000-\u001f\u007f]/.test(p.Subject ?? ''))
      throw Object.assign(new Error('Invalid parameter: Subject'), { name: 'SNS.InvalidParameterException' });
    this.notifications.push({
      topicArn: p.TopicArn,
      subject: p.Subject ?? '',
      // Step Functions serialises a JSON Message to a string, as SNS requires.
      message: typeof p.Message === 'string' ? p.Message : JSON.stringify(p.Message),
      attributes: Object.fromEntries(
        Object.entries(p.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue]),
      ),
      executionArn: execution.arn,
    });
    return { MessageId: randomUUID() };
  }

  /**
   * `lambda:invoke.waitForTaskToken`: invokes the step named by `FunctionName` with `Payload`,
   * then waits until the token passed in the Payload is answered. The step's own result is
   * discarded, as on AWS.
   */
  private async invokeAndWait(input: unknown, execution: ExecutionRecord, state: string) {
    const p = input as { FunctionName?: string; Payload?: Record<string, unknown> };
    const step = STEP_NAMES.find((s) => functionArn(this.options.environment, s) === p.FunctionName);
    if (!step) throw new Error(`${execution.procedure}:${state}: no step for FunctionName ${p.FunctionName}`);
    const token = Object.values(p.Payload ?? {}).find(
      (v): v is string => typeof v === 'string' && this.taskTokens.isIssued(v),
    );
    if (!token) {
      throw Object.assign(new Error(`${state} must pass $$.Task.Token in its Payload`), {
        name: 'States.Runtime',
      });
    }
    const answer = this.taskTokens.wait(token, execution.arn, state);
    // The answer may come while the step is still running: mark the rejection handled now; the
    // caller still receives it through the returned promise.
    answer.catch(() => undefined);
    try {
      await invokeStep(STEPS[step] as never, p.Payload, {
        ...this.options.deps,
        log: this.options.logs.forStep(step, execution.arn),
      });
    } catch (err) {
      this.taskTokens.expire(execution.arn, state);
      throw err;
    }
    return answer;
  }

  private async startChild(input: unknown, parent: ExecutionRecord) {
    const p = input as { StateMachineArn: string; Input: unknown; Name?: string };
    const procedure = procedureNames().find(
      (n) => stateMachineArn(this.options.environment, n) === p.StateMachineArn,
    );
    if (!procedure)
      throw Object.assign(new Error(`State machine ${p.StateMachineArn} does not exist`), {
        name: 'StepFunctions.StateMachineDoesNotExistException',
      });
    // Let the parent's events so far (the failure it caught, the state that starts the child) be
    // delivered first, so a rollback is seen after what caused it.
    await new Promise((r) => setImmediate(r));
    const child = await this.run(procedure, p.Input, { name: p.Name, parentArn: parent.arn });
    if (child.status !== 'SUCCEEDED') {
      const failure = new Error(
        JSON.stringify({
          ExecutionArn: child.arn,
          Status: child.status,
          StartDate: child.startedAt,
          StopDate: child.stoppedAt,
          Error: child.error,
          Cause: child.cause,
        }),
      );
      failure.name = 'States.TaskFailed';
      throw failure;
    }
    return {
      ExecutionArn: child.arn,
      Status: child.status,
      Output: child.output,
      StartDate: child.startedAt,
      StopDate: child.stoppedAt,
    };
  }
}
