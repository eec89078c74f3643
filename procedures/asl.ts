/**
 * A small typed builder for Amazon States Language (JSONPath only).
 *
 * Every procedure in `procedures/` is written with these constructors and rendered to
 * `statemachines/<name>.asl.json` by `npm run asl`. The builder infers nothing: each state names
 * its `Next` (or `End`) itself, exactly as the ASL will, so a source reads like the graph it
 * produces. What it does add is what every state of its kind must carry: the retry policy of its
 * integration, the Lambda resource placeholder of its step, a `Comment`. Why a builder of our own
 * rather than `aws-cdk-lib/aws-stepfunctions` is in `docs/decisions/0001-procedure-sources.md`.
 */

import type { StepName } from '../functions/index';
import type { ERROR_CLASSES } from '../functions/shared/errors';
import { functionPlaceholder, RESOURCE, stateMachinePlaceholder } from './integrations';

/** A custom error name: one of the classes in `functions/shared/errors.ts`. */
export type ErrorName = keyof typeof ERROR_CLASSES;
/** Errors Step Functions and its integrations raise themselves. */
export type AwsErrorName =
  | 'States.ALL'
  | 'States.Timeout'
  | 'States.TaskFailed'
  | 'States.Runtime'
  | `Lambda.${string}`
  | `DynamoDB.${string}`
  | `SNS.${string}`
  | `ECS.${string}`
  | `SFN.${string}`
  | `StepFunctions.${string}`;
export type CatchableError = ErrorName | AwsErrorName;

export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

/** One rendered state. */
export interface AslState {
  readonly Type: 'Task' | 'Pass' | 'Choice' | 'Wait' | 'Succeed' | 'Fail' | 'Map' | 'Parallel';
  readonly Comment: string;
  readonly [field: string]: unknown;
}
export type States = Record<string, AslState>;

/** A whole definition as rendered to `statemachines/<name>.asl.json`. */
export interface Definition {
  readonly Comment: string;
  readonly StartAt: string;
  readonly TimeoutSeconds: number;
  readonly States: States;
}

export interface Retrier {
  readonly ErrorEquals: readonly string[];
  readonly IntervalSeconds?: number;
  readonly MaxAttempts?: number;
  readonly BackoffRate?: number;
  readonly JitterStrategy?: 'FULL' | 'NONE';
}

export interface Catcher {
  readonly ErrorEquals: readonly string[];
  readonly ResultPath?: string | null;
  readonly Next: string;
}

/**
 * The four retry policies, one per integration. Each retries only what AWS documents as transient
 * for that service, with full jitter so a storm of executions does not retry in step.
 */
export const RETRY = {
  /** The transient Lambda service errors (every Lambda task retries these). */
  lambda: {
    ErrorEquals: [
      'Lambda.ServiceException',
      'Lambda.AWSLambdaException',
      'Lambda.SdkClientException',
      'Lambda.TooManyRequestsException',
    ],
    IntervalSeconds: 1,
    MaxAttempts: 3,
    BackoffRate: 2,
    JitterStrategy: 'FULL',
  },
  /** DynamoDB throttling and internal errors (never the conditional check: that is a verdict). */
  dynamodb: {
    ErrorEquals: [
      'DynamoDB.ProvisionedThroughputExceededException',
      'DynamoDB.ThrottlingException',
      'DynamoDB.InternalServerErrorException',
      'DynamoDB.RequestLimitExceeded',
    ],
    IntervalSeconds: 1,
    MaxAttempts: 4,
    BackoffRate: 2,
    JitterStrategy: 'FULL',
  },
  /** ECS capacity and throttling answers of RunTask. */
  ecs: {
    ErrorEquals: ['ECS.AmazonECSException', 'ECS.ServerException', 'ECS.ThrottlingException'],
    IntervalSeconds: 10,
    MaxAttempts: 3,
    BackoffRate: 2,
    JitterStrategy: 'FULL',
  },
  /** SNS throttling and internal errors, and the topic key's throttling. */
  sns: {
    ErrorEquals: ['SNS.ThrottledException', 'SNS.InternalErrorException', 'SNS.KMSThrottlingException'],
    IntervalSeconds: 2,
    MaxAttempts: 3,
    BackoffRate: 2,
    JitterStrategy: 'FULL',
  },
} as const satisfies Record<string, Retrier>;
export type RetryPolicy = keyof typeof RETRY;

/** A retrier for named errors of our own (a step that may succeed on a second try). */
export function retryOn(
  errors: CatchableError | readonly CatchableError[],
  o: { interval: number; attempts: number; backoff?: number; jitter?: boolean },
): Retrier {
  return {
    ErrorEquals: typeof errors === 'string' ? [errors] : [...errors],
    IntervalSeconds: o.interval,
    MaxAttempts: o.attempts,
    ...(o.backoff === undefined ? {} : { BackoffRate: o.backoff }),
    ...(o.jitter ? { JitterStrategy: 'FULL' as const } : {}),
  };
}

/** Retriers for our own errors that a second look may clear, shared by every procedure. */
export const RETRY_ON = {
  /** A health check that failed may pass once the service settles. */
  health: retryOn('HealthCheckFailedError', { interval: 5, attempts: 2, backoff: 2 }),
  /** A smoke test gets one more try after a short pause. */
  smoke: retryOn('SmokeTestFailedError', { interval: 3, attempts: 1 }),
} as const;

/**
 * A catcher. `errors` defaults to `States.ALL`; `resultPath` is where the error lands
 * (`$.failure` by default; `undefined` keeps the Step Functions default: the error replaces the state).
 */
export function onError(
  next: string,
  o: { errors?: readonly CatchableError[]; resultPath?: string | null | 'replace' } = {},
): Catcher {
  const resultPath = o.resultPath === undefined ? '$.failure' : o.resultPath;
  return {
    ErrorEquals: [...(o.errors ?? ['States.ALL'])],
    ...(resultPath === 'replace' ? {} : { ResultPath: resultPath }),
    Next: next,
  };
}

/** Where a state goes next: exactly one of `next` or `end`. */
export type Flow =
  | { readonly next: string; readonly end?: never }
  | { readonly end: true; readonly next?: never };

export interface DataFlow {
  readonly inputPath?: string;
  readonly parameters?: JsonObject;
  readonly resultSelector?: JsonObject;
  /** `null` discards the result; omitted, the result replaces the state's input. */
  readonly resultPath?: string | null;
  readonly outputPath?: string;
}

export type TaskOptions = DataFlow &
  Flow & {
    /** What the step does, in the runbook's words. */
    readonly comment: string;
    readonly timeout?: number;
    /** JSONPath of the timeout, for a callback whose wait the input decides. */
    readonly timeoutPath?: string;
    /** Retriers tried after the integration's own policy. */
    readonly retry?: readonly Retrier[];
    readonly catch?: readonly Catcher[];
  };

function flow(f: Flow): Record<string, unknown> {
  return f.end ? { End: true } : { Next: f.next };
}

function io(o: DataFlow): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.inputPath !== undefined) out.InputPath = o.inputPath;
  if (o.parameters !== undefined) out.Parameters = o.parameters;
  if (o.resultSelector !== undefined) out.ResultSelector = o.resultSelector;
  if (o.resultPath !== undefined) out.ResultPath = o.resultPath;
  if (o.outputPath !== undefined) out.OutputPath = o.outputPath;
  return out;
}

function task(resource: string, policy: RetryPolicy | undefined, o: TaskOptions): AslState {
  const retry = [...(policy ? [RETRY[policy]] : []), ...(o.retry ?? [])];
  return {
    Type: 'Task',
    Comment: o.comment,
    Resource: resource,
    ...io(o),
    ...(o.timeout === undefined ? {} : { TimeoutSeconds: o.timeout }),
    ...(o.timeoutPath === undefined ? {} : { TimeoutSecondsPath: o.timeoutPath }),
    ...(retry.length ? { Retry: retry } : {}),
    ...(o.catch?.length ? { Catch: o.catch } : {}),
    ...flow(o),
  };
}

/** Default timeout of a Lambda step task, seconds. */
export const LAMBDA_TIMEOUT = 60;

/** Invokes one step (`functions/<step>/`), retrying the transient Lambda errors. */
export function lambda(step: StepName, o: TaskOptions): AslState {
  return task(`\${${functionPlaceholder(step)}}`, 'lambda', { timeout: LAMBDA_TIMEOUT, ...o });
}

export type DynamoAction = 'putItem' | 'getItem' | 'deleteItem' | 'updateItem';

/** A native DynamoDB integration, retrying throttling. */
export function dynamodb(action: DynamoAction, o: TaskOptions): AslState {
  return task(RESOURCE.dynamodb(action), 'dynamodb', o);
}

/** `ecs:runTask.sync`, retrying ECS capacity errors. */
export function ecsRunTask(o: TaskOptions): AslState {
  return task(RESOURCE.ecsRunTaskSync, 'ecs', o);
}

/** `sns:publish`, retrying SNS throttling. */
export function snsPublish(o: TaskOptions): AslState {
  return task(RESOURCE.snsPublish, 'sns', o);
}

/**
 * Runs another procedure as a nested execution and waits for it (`startExecution.sync:2`); the
 * child is linked to this execution in the console and stops with it. The Task takes no timeout of
 * its own: the child's (derived, `procedures/budget.ts`) ends it, so a parent never stops a child
 * mid-change.
 */
export function startChild(
  procedure: string,
  o: Omit<TaskOptions, 'timeout' | 'timeoutPath'> & {
    readonly input: JsonObject;
    /** JSONPath of the child's execution name (a lock delegated to it names it). */
    readonly executionName?: string;
  },
): AslState {
  const { input, executionName, ...rest } = o;
  return task(RESOURCE.startExecutionSync, undefined, {
    ...(rest as TaskOptions),
    parameters: {
      StateMachineArn: `\${${stateMachinePlaceholder(procedure)}}`,
      ...(executionName === undefined ? {} : { 'Name.$': executionName }),
      Input: { ...input, 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id' },
    },
  });
}

/** Any other integration (an AWS SDK call, a callback): the resource is given whole. */
export function integration(resource: string, o: TaskOptions & { readonly policy?: RetryPolicy }): AslState {
  return task(resource, o.policy, o);
}

export function pass(
  o: Flow & { readonly comment: string; readonly result?: Json } & Omit<DataFlow, 'resultSelector'>,
): AslState {
  return {
    Type: 'Pass',
    Comment: o.comment,
    ...io(o),
    ...(o.result === undefined ? {} : { Result: o.result }),
    ...flow(o),
  };
}

/** One Choice rule: a JSONPath comparison (`Variable` with an operator, or `And`/`Or`/`Not`) and its target. */
export type ChoiceRule = { readonly next: string } & JsonObject;

export function choice(o: {
  readonly comment: string;
  readonly choices: readonly ChoiceRule[];
  readonly default?: string;
}): AslState {
  return {
    Type: 'Choice',
    Comment: o.comment,
    Choices: o.choices.map(({ next, ...rule }) => ({ ...rule, Next: next })),
    ...(o.default === undefined ? {} : { Default: o.default }),
  };
}

export function wait(
  o: Flow & {
    readonly comment: string;
    readonly seconds?: number;
    readonly secondsPath?: string;
    readonly timestampPath?: string;
  },
): AslState {
  return {
    Type: 'Wait',
    Comment: o.comment,
    ...(o.seconds === undefined ? {} : { Seconds: o.seconds }),
    ...(o.secondsPath === undefined ? {} : { SecondsPath: o.secondsPath }),
    ...(o.timestampPath === undefined ? {} : { TimestampPath: o.timestampPath }),
    ...flow(o),
  };
}

export function succeed(o: { readonly comment: string; readonly outputPath?: string }): AslState {
  return {
    Type: 'Succeed',
    Comment: o.comment,
    ...(o.outputPath === undefined ? {} : { OutputPath: o.outputPath }),
  };
}

export function fail(o: {
  readonly comment: string;
  readonly error?: ErrorName;
  readonly errorPath?: string;
  readonly cause?: string;
  readonly causePath?: string;
}): AslState {
  return {
    Type: 'Fail',
    Comment: o.comment,
    ...(o.error === undefined ? {} : { Error: o.error }),
    ...(o.errorPath === undefined ? {} : { ErrorPath: o.errorPath }),
    ...(o.cause === undefined ? {} : { Cause: o.cause }),
    ...(o.causePath === undefined ? {} : { CausePath: o.causePath }),
  };
}

/** An inline Map over `itemsPath`, one item at a time unless `maxConcurrency` says otherwise. */
export function map(
  o: Flow &
    Omit<DataFlow, 'parameters' | 'resultSelector'> & {
      readonly comment: string;
      readonly itemsPath: string;
      readonly itemSelector?: JsonObject;
      readonly maxConcurrency?: number;
      readonly startAt: string;
      readonly states: States;
      readonly retry?: readonly Retrier[];
      readonly catch?: readonly Catcher[];
    },
): AslState {
  return {
    Type: 'Map',
    Comment: o.comment,
    ...(o.inputPath === undefined ? {} : { InputPath: o.inputPath }),
    ItemsPath: o.itemsPath,
    ...(o.itemSelector === undefined ? {} : { ItemSelector: o.itemSelector }),
    ...(o.maxConcurrency === undefined ? {} : { MaxConcurrency: o.maxConcurrency }),
    ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: o.startAt, States: o.states },
    ...(o.resultPath === undefined ? {} : { ResultPath: o.resultPath }),
    ...(o.outputPath === undefined ? {} : { OutputPath: o.outputPath }),
    ...(o.retry?.length ? { Retry: o.retry } : {}),
    ...(o.catch?.length ? { Catch: o.catch } : {}),
    ...flow(o),
  };
}

export function parallel(
  o: Flow &
    Omit<DataFlow, 'parameters'> & {
      readonly comment: string;
      readonly branches: readonly { readonly startAt: string; readonly states: States }[];
      readonly retry?: readonly Retrier[];
      readonly catch?: readonly Catcher[];
    },
): AslState {
  return {
    Type: 'Parallel',
    Comment: o.comment,
    Branches: o.branches.map((b) => ({ StartAt: b.startAt, States: b.states })),
    ...io(o),
    ...(o.retry?.length ? { Retry: o.retry } : {}),
    ...(o.catch?.length ? { Catch: o.catch } : {}),
    ...flow(o),
  };
}

/**
 * Joins fragments into one `States` object; a state name defined twice is a mistake in a source,
 * never silently overwritten.
 */
export function states(...parts: readonly States[]): States {
  const out: States = {};
  for (const part of parts) {
    for (const [name, state] of Object.entries(part)) {
      if (name in out) throw new Error(`State ${name} is defined twice`);
      out[name] = state;
    }
  }
  return out;
}
export { pascal, stateMachinePlaceholder } from './integrations';
