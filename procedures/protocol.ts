/**
 * The shared protocol of every procedure, written once: validate the input, take the environment
 * lock (or inherit it from the parent that delegated it), release it on every exit, hold it as
 * `needs-operator` with maintenance on when a compensation cannot verify, wait for a service to be
 * stable, describe the outcome from what was observed, notify, and end in the state the outcome
 * names. Procedures compose these fragments with their own runbook steps.
 */
import type { StepName } from '../functions/index';
import {
  type AslState,
  type Catcher,
  choice,
  dynamodb,
  type ErrorName,
  fail,
  type JsonObject,
  lambda,
  map,
  onError,
  pass,
  type States,
  snsPublish,
  startChild,
  succeed,
  wait,
} from './asl';

/** The JSONPath of the lock owner every procedure's validated request carries. */
const OWNER = '$.request.lock.owner';
const LOCK_KEY = { pk: { S: '${Environment}' } } as const;

// ---------------------------------------------------------------------------------------------
// Validate first

/**
 * `ValidateInput` parses the execution input with the procedure's zod schema before any side
 * effect; a bad input ends at `InputRejected` with the step's named error and message.
 */
export function validateInput(o: {
  readonly procedure: string;
  readonly step: StepName;
  readonly next: string;
  /** Pass the execution's start time too (the input step dates the request from it). */
  readonly startTime?: boolean;
}): States {
  return {
    ValidateInput: lambda(o.step, {
      comment:
        'Validate first: parses the execution input before any side effect; a bad input ends here with InvalidInputError and changes nothing.',
      parameters: {
        procedure: o.procedure,
        'executionId.$': '$$.Execution.Id',
        'executionName.$': '$$.Execution.Name',
        ...(o.startTime ? { 'startTime.$': '$$.Execution.StartTime' } : {}),
        'input.$': '$$.Execution.Input',
      },
      resultSelector: { 'request.$': '$' },
      timeout: 30,
      catch: [onError('InputRejected', { resultPath: 'replace' })],
      next: o.next,
    }),
    InputRejected: fail({
      comment:
        'The input was refused: the validation error and its message, passed through. Nothing changed.',
      errorPath: '$.Error',
      causePath: '$.Cause',
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// The environment lock

/**
 * `AcquireLock`: one change at a time per environment, by a conditional put. The same owner may
 * re-enter (a retried attempt, or a rollback run by the cutover that delegated its lock). When
 * another owner holds it, `ReadLockHolder` says who, and the execution fails with `LockHeldError`
 * having changed nothing, unless `whenHeld` sends it elsewhere.
 */
export function acquireLock(o: {
  readonly procedure: string;
  readonly next: string;
  /** JSONPath of the change id recorded on the lock item. */
  readonly changeId?: string;
  /**
   * Where to go when the lock is held by someone else, instead of failing: `known` after the
   * holder was read into `$.lockHolder`, `unknown` when it could not be read.
   */
  readonly whenHeld?: { readonly known: string; readonly unknown: string };
}): States {
  const held = o.whenHeld ?? { known: 'DescribeLockHeld', unknown: 'LockHeldUnknownHolder' };
  const out: States = {
    AcquireLock: dynamodb('putItem', {
      comment:
        'One cutover or rollback at a time per environment. Re-entry by the same owner (a retry, or a rollback run by its cutover) succeeds.',
      parameters: {
        TableName: '${LockTableName}',
        Item: {
          ...LOCK_KEY,
          owner: { 'S.$': OWNER },
          holder: { 'S.$': '$$.Execution.Id' },
          procedure: { S: o.procedure },
          status: { S: 'held' },
          acquiredAt: { 'S.$': '$$.Execution.StartTime' },
          ...(o.changeId ? { changeId: { 'S.$': o.changeId } } : {}),
        },
        ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': { 'S.$': OWNER } },
      },
      resultPath: null,
      catch: [onError('ReadLockHolder', { errors: ['DynamoDB.ConditionalCheckFailedException'] })],
      next: o.next,
    }),
    ReadLockHolder: dynamodb('getItem', {
      comment: 'Another execution holds the lock: reads who, for the message.',
      parameters: { TableName: '${LockTableName}', Key: LOCK_KEY, ConsistentRead: true },
      resultSelector: {
        'owner.$': '$.Item.owner.S',
        'procedure.$': '$.Item.procedure.S',
        'status.$': '$.Item.status.S',
      },
      resultPath: '$.lockHolder',
      catch: [onError(held.unknown, { resultPath: '$.lockReadError' })],
      next: held.known,
    }),
  };
  if (o.whenHeld) return out;
  return {
    ...out,
    DescribeLockHeld: pass({
      comment: 'Names the holder of the lock as read from the lock table.',
      parameters: {
        'message.$':
          "States.Format('Environment ${Environment} is locked by {} ({}, lock status {}). Nothing was changed.', $.lockHolder.owner, $.lockHolder.procedure, $.lockHolder.status)",
      },
      next: 'LockHeld',
    }),
    LockHeldUnknownHolder: pass({
      comment: 'The holder could not be read: says only that another execution holds the lock.',
      parameters: {
        message: 'Environment ${Environment} was locked by another execution. Nothing was changed.',
      },
      next: 'LockHeld',
    }),
    LockHeld: fail({
      comment: 'Another change is in progress in this environment; this execution changed nothing.',
      error: 'LockHeldError',
      causePath: '$.message',
    }),
  };
}

/**
 * A release of the lock, conditional on this execution's owner (so it never frees a lock taken
 * over by the router or held by someone else). A failed condition (the lock is no longer ours) is
 * kept in `$.lockReleaseError` and the procedure goes on to `next`. Any other failure, once the
 * DynamoDB retries are spent, fails the execution: a release is never caught and forgotten, so the
 * janitor and the execution-failed alarm act on it.
 */
export function releaseLock(o: { readonly next: string }): AslState {
  return dynamodb('deleteItem', {
    comment: 'Releases the lock only if this execution (or the cutover it runs for) owns it.',
    parameters: {
      TableName: '${LockTableName}',
      Key: LOCK_KEY,
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': { 'S.$': OWNER } },
    },
    resultPath: null,
    catch: [
      onError(o.next, {
        errors: ['DynamoDB.ConditionalCheckFailedException'],
        resultPath: '$.lockReleaseError',
      }),
    ],
    next: o.next,
  });
}

/**
 * A choice on whether the lock was inherited from a parent execution (which releases it itself):
 * `inherited` when it was, `owned` otherwise.
 */
export function ifLockInherited(o: {
  readonly comment: string;
  readonly inherited: string;
  readonly owned: string;
  readonly path?: string;
}): AslState {
  return choice({
    comment: o.comment,
    choices: [{ Variable: o.path ?? '$.request.lock.inherited', BooleanEquals: true, next: o.inherited }],
    default: o.owned,
  });
}

/**
 * The hold for an operator, when a compensation could not verify: `EnterMaintenance` turns
 * maintenance mode on, then `MarkLockNeedsOperator` keeps the lock on purpose (the janitor only
 * releases locks in status `held`). Each continues even if it fails, its error kept for the notice.
 */
export function holdForOperator(o: { readonly next: string }): States {
  return {
    EnterMaintenance: lambda('set-flags', {
      comment:
        'The compensation did not verify: maintenance mode on, so the API serves maintenance while an operator looks.',
      parameters: { changes: [{ name: 'maintenance-mode', value: 'on' }] },
      resultPath: '$.maintenance',
      catch: [onError('MarkLockNeedsOperator', { resultPath: '$.maintenanceError' })],
      next: 'MarkLockNeedsOperator',
    }),
    MarkLockNeedsOperator: dynamodb('updateItem', {
      comment: "Keeps the lock held on purpose: the janitor only releases locks in status 'held'.",
      parameters: {
        TableName: '${LockTableName}',
        Key: LOCK_KEY,
        UpdateExpression: 'SET #status = :stuck',
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
        ExpressionAttributeValues: { ':owner': { 'S.$': OWNER }, ':stuck': { S: 'needs-operator' } },
      },
      resultPath: null,
      catch: [onError(o.next, { resultPath: '$.lockMarkError' })],
      next: o.next,
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Waiting for a restarted service

/**
 * Polls a restarted service until its deployment is stable: `StartStabilityWait`, `WaitForStable`,
 * `CheckStable`, `IsStable`, `NotStable` (each name after `prefix`). Stable goes to `onStable`;
 * exhausted attempts or a failed check go to `onFailure` with the failure in `$.failure`.
 */
export function awaitStable(o: {
  readonly onStable: string;
  readonly onFailure: string;
  readonly prefix?: string;
  /** The service and deployment to watch: the API restarted into `$.restart` by default. */
  readonly service?: { readonly service?: string; readonly 'service.$'?: string };
  readonly deploymentIdPath?: string;
  /** The `States.Format` expression of the not-stable cause. */
  readonly notStableCause?: string;
}): States {
  const p = o.prefix ?? '';
  return {
    [`${p}StartStabilityWait`]: pass({
      comment: 'Starts counting the stability checks of the restarted service.',
      result: { attempt: 0, stable: false, exhausted: false },
      resultPath: '$.stability',
      next: `${p}WaitForStable`,
    }),
    [`${p}WaitForStable`]: wait({
      comment: 'Waits one poll interval before checking the deployment again.',
      secondsPath: '$.request.timing.stabilityPollSeconds',
      next: `${p}CheckStable`,
    }),
    [`${p}CheckStable`]: lambda('check-stable', {
      comment: 'Asks ECS whether the new deployment is steady: every task running and healthy.',
      parameters: {
        ...(o.service ?? { service: 'api' }),
        'deploymentId.$': o.deploymentIdPath ?? '$.restart.deploymentId',
        'attempt.$': '$.stability.attempt',
        'maxAttempts.$': '$.request.timing.stabilityMaxAttempts',
      },
      resultPath: '$.stability',
      catch: [onError(o.onFailure)],
      next: `${p}IsStable`,
    }),
    [`${p}IsStable`]: choice({
      comment: 'Stable: go on. Out of attempts: the service did not settle. Otherwise wait and check again.',
      choices: [
        { Variable: '$.stability.stable', BooleanEquals: true, next: o.onStable },
        { Variable: '$.stability.exhausted', BooleanEquals: true, next: `${p}NotStable` },
      ],
      default: `${p}WaitForStable`,
    }),
    [`${p}NotStable`]: pass({
      comment: 'The service never became stable: recorded as ServiceNotStableError, as observed.',
      parameters: {
        Error: 'ServiceNotStableError',
        'Cause.$':
          o.notStableCause ??
          "States.Format('The api service did not become stable after {} checks ({} of {} tasks running, rollout {}).', $.stability.attempt, $.stability.runningCount, $.stability.desiredCount, $.stability.rolloutState)",
      },
      resultPath: '$.failure',
      next: o.onFailure,
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Outcome, notification, end

/**
 * A notice: the outcome, environment and execution every notification carries, a subject, a
 * summary (a literal, or `States.Format` over `args`) and the procedure's own fields, put in
 * `$.notice` for `Notify` and the end state.
 */
export function notice(o: {
  readonly comment: string;
  readonly outcome: string;
  readonly subject: string;
  readonly summary: string;
  /** JSONPaths formatted into the summary's `{}`; without them the summary is literal. */
  readonly args?: readonly string[];
  readonly fields?: JsonObject;
  readonly next: string;
}): AslState {
  const summary: JsonObject =
    o.args === undefined
      ? { summary: o.summary }
      : { 'summary.$': `States.Format('${o.summary}'${o.args.map((a) => `, ${a}`).join('')})` };
  return pass({
    comment: o.comment,
    parameters: {
      outcome: o.outcome,
      environment: '${Environment}',
      'execution.$': '$$.Execution.Id',
      subject: o.subject,
      ...summary,
      ...o.fields,
    },
    resultPath: '$.notice',
    next: o.next,
  });
}

/**
 * Publishes `$.notice` to the environment's topic (retried; a failure is kept in `$.notifyError`
 * and the procedure goes on to `next` either way).
 */
export function publishNotice(o: { readonly comment: string; readonly next: string }): AslState {
  return snsPublish({
    comment: o.comment,
    parameters: {
      TopicArn: '${NotificationTopicArn}',
      'Subject.$': '$.notice.subject',
      'Message.$': '$.notice',
      MessageAttributes: {
        outcome: { DataType: 'String', 'StringValue.$': '$.notice.outcome' },
        environment: { DataType: 'String', StringValue: '${Environment}' },
      },
    },
    resultPath: '$.notification',
    catch: [onError(o.next, { resultPath: '$.notifyError' })],
    next: o.next,
  });
}

/**
 * Seed 000, "always back up before a change": every database in `$.request.backups` backed up and
 * proven restorable by the `backup` procedure, one at a time; the results land in `$.backups`.
 */
export function verifiedBackups(o: {
  readonly comment: string;
  readonly catch: readonly Catcher[];
  readonly next: string;
}): AslState {
  return map({
    comment: o.comment,
    itemsPath: '$.request.backups',
    maxConcurrency: 1,
    startAt: 'BackupDatabase',
    states: {
      BackupDatabase: startChild('backup', {
        comment: 'A verified backup of one database, by the backup procedure.',
        input: {
          'store.$': '$.store',
          'database.$': '$.database',
          'reason.$': '$.reason',
          purpose: 'pre-change',
          requestedBy: 'switchback',
        },
        outputPath: '$.Output',
        end: true,
      }),
    },
    resultPath: '$.backups',
    catch: o.catch,
    next: o.next,
  });
}

/** One outcome of `EndByOutcome`: the terminal state it ends in, or another state to go to. */
export type Ending =
  | { readonly outcome: string; readonly fail: string; readonly error: ErrorName; readonly comment: string }
  | { readonly outcome: string; readonly fail: string; readonly errorPath: string; readonly comment: string }
  | { readonly outcome: string; readonly succeed: string; readonly comment: string }
  | { readonly outcome: string; readonly next: string };

/**
 * `Notify` publishes the notice (retried; a failure is kept in `$.notifyError` and the execution
 * still ends by its outcome), then `EndByOutcome` ends in the state the outcome names: a `Fail`
 * with the procedure's named error and the notice's summary as cause, or `Succeed` with the notice
 * as output. `skipWhenInherited` (a JSONPath) adds `ShouldNotify`: a child that inherited its
 * parent's lock leaves the notification to the parent.
 */
export function notifyAndEnd(o: {
  readonly endings: readonly Ending[];
  readonly otherwise: { readonly succeed: string; readonly comment: string };
  readonly skipWhenInherited?: string;
}): States {
  const out: States = {};
  if (o.skipWhenInherited) {
    out.ShouldNotify = ifLockInherited({
      comment: 'A child that inherited its parent lock leaves the notification to the parent.',
      path: o.skipWhenInherited,
      inherited: 'EndByOutcome',
      owned: 'Notify',
    });
  }
  out.Notify = publishNotice({
    comment: 'Publishes the notice: what happened, as observed, and the state the environment is left in.',
    next: 'EndByOutcome',
  });
  out.EndByOutcome = choice({
    comment: 'Ends the execution in the state its outcome names.',
    choices: o.endings.map((e) => ({
      Variable: '$.notice.outcome',
      StringEquals: e.outcome,
      next: 'next' in e ? e.next : 'fail' in e ? e.fail : e.succeed,
    })),
    default: o.otherwise.succeed,
  });
  for (const e of o.endings) {
    if ('fail' in e) {
      out[e.fail] = fail({
        comment: e.comment,
        ...('error' in e ? { error: e.error } : { errorPath: e.errorPath }),
        causePath: '$.notice.summary',
      });
    } else if ('succeed' in e) {
      out[e.succeed] = succeed({ comment: e.comment, outputPath: '$.notice' });
    }
  }
  out[o.otherwise.succeed] = succeed({ comment: o.otherwise.comment, outputPath: '$.notice' });
  return out;
}
