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
        // Free, or re-entered by its holder (a retried attempt), or inherited by the very execution
        // its owner delegated it to (`delegateAndStart`): a parent named in the input is not enough.
        ConditionExpression:
          'attribute_not_exists(pk) OR (#owner = :owner AND (#holder = :me OR #delegate = :name))',
        ExpressionAttributeNames: { '#owner': 'owner', '#holder': 'holder', '#delegate': 'delegate' },
        ExpressionAttributeValues: {
          ':owner': { 'S.$': OWNER },
          ':me': { 'S.$': '$$.Execution.Id' },
          ':name': { 'S.$': '$$.Execution.Name' },
        },
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
 * Runs a child procedure that inherits this execution's lock, with proof: `<delegate>` writes the
 * child's execution name (a fresh UUID) into the lock item, on condition that the lock is still
 * this owner's; `<start>` starts the child under exactly that name. The child's `AcquireLock`
 * accepts the lock only as that delegate, so an input that merely names a parent inherits nothing.
 * Both states fail into the same catch (the lock no longer ours is a failed delegation).
 */
export function delegateAndStart(
  names: { readonly delegate: string; readonly start: string },
  procedure: string,
  o: Parameters<typeof startChild>[1] & {
    readonly catch: readonly Catcher[];
    /** JSONPath of the lock owner: the request's by default. */
    readonly owner?: string;
  },
): States {
  const { owner, ...start } = o;
  return {
    [names.delegate]: dynamodb('updateItem', {
      comment: `Delegates the environment lock to the ${procedure} execution started next: only it may inherit the lock.`,
      parameters: {
        TableName: '${LockTableName}',
        Key: LOCK_KEY,
        UpdateExpression: 'SET #delegate = :child',
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner', '#delegate': 'delegate' },
        ExpressionAttributeValues: {
          ':owner': { 'S.$': owner ?? OWNER },
          ':child': { 'S.$': 'States.UUID()' },
        },
        ReturnValues: 'UPDATED_NEW',
      },
      resultSelector: { 'name.$': '$.Attributes.delegate.S' },
      resultPath: '$.delegation',
      catch: o.catch,
      next: names.start,
    }),
    [names.start]: startChild(procedure, { ...start, executionName: '$.delegation.name' }),
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
 * The hold for an operator, when a compensation could not verify. `EnterMaintenance` turns
 * maintenance mode on and `RestartIntoMaintenance` restarts the API so that it serves it (the API
 * reads the flag at start); `MarkLockNeedsOperator` keeps the lock on purpose (the janitor only
 * releases locks in status `held`). Then what was left is observed, never assumed:
 * `ReadHeldLock` reads the lock item and `ObserveHold` reads the flag and polls what the API
 * serves, into `$.observed` (its `summary` is the sentence the notice ends with). Every step goes on
 * when it fails, its error kept for the observation.
 */
export function holdForOperator(o: {
  readonly next: string;
  /** JSONPath of the lock owner: the request's by default. */
  readonly owner?: string;
  /** Where the stage's timing is in the state: `$.request.timing` by default. */
  readonly timingPath?: string;
}): States {
  return {
    EnterMaintenance: lambda('set-flags', {
      comment:
        'The compensation did not verify: maintenance mode on, so the API serves maintenance while an operator looks.',
      parameters: { changes: [{ name: 'maintenance-mode', value: 'on' }] },
      resultPath: '$.maintenance',
      catch: [onError('RestartIntoMaintenance', { resultPath: '$.maintenanceError' })],
      next: 'RestartIntoMaintenance',
    }),
    RestartIntoMaintenance: lambda('restart-service', {
      comment:
        'Restarts the API so that it reads the maintenance flag and serves maintenance, not only flags it.',
      parameters: { service: 'api' },
      resultPath: '$.maintenanceRestart',
      catch: [onError('MarkLockNeedsOperator', { resultPath: '$.maintenanceRestartError' })],
      next: 'HoldStartStabilityWait',
    }),
    // Bounded like every stability wait; a restart that never settles is reported, the hold goes on.
    ...awaitStable({
      prefix: 'Hold',
      deploymentIdPath: '$.maintenanceRestart.deploymentId',
      stabilityPath: '$.holdStability',
      failurePath: '$.maintenanceRestartError',
      timingPath: o.timingPath,
      onStable: 'MarkLockNeedsOperator',
      onFailure: 'MarkLockNeedsOperator',
    }),
    MarkLockNeedsOperator: dynamodb('updateItem', {
      comment: "Keeps the lock held on purpose: the janitor only releases locks in status 'held'.",
      parameters: {
        TableName: '${LockTableName}',
        Key: LOCK_KEY,
        UpdateExpression: 'SET #status = :stuck',
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
        ExpressionAttributeValues: {
          ':owner': { 'S.$': o.owner ?? OWNER },
          ':stuck': { S: 'needs-operator' },
        },
      },
      resultPath: null,
      catch: [onError('ReadHeldLock', { resultPath: '$.lockMarkError' })],
      next: 'ReadHeldLock',
    }),
    ReadHeldLock: dynamodb('getItem', {
      comment: 'Reads the lock as it is now, for the notice.',
      parameters: { TableName: '${LockTableName}', Key: LOCK_KEY, ConsistentRead: true },
      resultPath: '$.heldLock',
      catch: [onError('ObserveHold', { resultPath: '$.heldLockError' })],
      next: 'ObserveHold',
    }),
    ObserveHold: lambda('observe-hold', {
      comment:
        'Observes what the hold left: the maintenance flag, what the API serves, the lock. The notice says this.',
      parameters: { 'state.$': '$' },
      resultPath: '$.observed',
      catch: [onError('ObservationUnavailable', { resultPath: '$.observeError' })],
      next: o.next,
    }),
    ObservationUnavailable: pass({
      comment:
        'Nothing could be observed: the notice says so, and that the environment must be checked by hand.',
      parameters: {
        maintenanceFlag: 'unknown',
        apiMaintenance: 'unknown',
        lockStatus: 'unknown',
        lock: 'unknown',
        summary:
          'Observed: nothing (the observation step failed): check the maintenance-mode flag, what the API serves and the lock by hand.',
      },
      resultPath: '$.observed',
      next: o.next,
    }),
  };
}

/** The notice fields of a hold, as observed by `ObserveHold`. */
export const HELD_FIELDS = {
  'maintenanceMode.$': '$.observed.maintenanceFlag',
  'apiMaintenance.$': '$.observed.apiMaintenance',
  'lock.$': '$.observed.lock',
  'lockStatus.$': '$.observed.lockStatus',
} as const;

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
  /** Where the checks count: `$.stability` by default. */
  readonly stabilityPath?: string;
  /** Where a failed check or the not-stable error lands: `$.failure` by default. */
  readonly failurePath?: string;
  /** Where the stage's timing is in the state: `$.request.timing` by default. */
  readonly timingPath?: string;
}): States {
  const p = o.prefix ?? '';
  const timing = o.timingPath ?? '$.request.timing';
  const at = o.stabilityPath ?? '$.stability';
  const failure = o.failurePath ?? '$.failure';
  return {
    [`${p}StartStabilityWait`]: pass({
      comment: 'Starts counting the stability checks of the restarted service.',
      result: { attempt: 0, stable: false, exhausted: false },
      resultPath: at,
      next: `${p}WaitForStable`,
    }),
    [`${p}WaitForStable`]: wait({
      comment: 'Waits one poll interval before checking the deployment again.',
      secondsPath: `${timing}.stabilityPollSeconds`,
      next: `${p}CheckStable`,
    }),
    [`${p}CheckStable`]: lambda('check-stable', {
      comment: 'Asks ECS whether the new deployment is steady: every task running and healthy.',
      parameters: {
        ...(o.service ?? { service: 'api' }),
        'deploymentId.$': o.deploymentIdPath ?? '$.restart.deploymentId',
        'attempt.$': `${at}.attempt`,
        'maxAttempts.$': `${timing}.stabilityMaxAttempts`,
      },
      resultPath: at,
      catch: [onError(o.onFailure, { resultPath: failure })],
      next: `${p}IsStable`,
    }),
    [`${p}IsStable`]: choice({
      comment: 'Stable: go on. Out of attempts: the service did not settle. Otherwise wait and check again.',
      choices: [
        { Variable: `${at}.stable`, BooleanEquals: true, next: o.onStable },
        { Variable: `${at}.exhausted`, BooleanEquals: true, next: `${p}NotStable` },
      ],
      default: `${p}WaitForStable`,
    }),
    [`${p}NotStable`]: pass({
      comment: 'The service never became stable: recorded as ServiceNotStableError, as observed.',
      parameters: {
        Error: 'ServiceNotStableError',
        'Cause.$':
          o.notStableCause ??
          `States.Format('The api service did not become stable after {} checks ({} of {} tasks running, rollout {}).', ${at}.attempt, ${at}.runningCount, ${at}.desiredCount, ${at}.rolloutState)`,
      },
      resultPath: failure,
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
 * Publishes `$.notice` to the environment's topic as people read it. `<name>` (the
 * `compose-notice` step; procedures go to it by that name) writes the subject (the environment and
 * what happened, under SNS's 100 characters) and a plain-text body (what happened, the state now
 * as observed, what to do next, console links to the execution and any report), ending with the
 * notice as JSON after a separator line. `Publish<X>Notice` publishes it, with the outcome, the
 * environment and the notice as JSON as message attributes (SNS delivers attributes only with a
 * String message structure). If the body cannot be composed, `<name>Plainly` publishes the summary
 * and the notice as JSON instead: a notice is never lost to its formatting. A failed publish is
 * kept in `$.notifyError`; the procedure goes on to `next` either way.
 */
export function publishNotice(o: {
  readonly comment: string;
  readonly next: string;
  /** The entry state's name: `Notify` by default. */
  readonly name?: string;
}): States {
  const name = o.name ?? 'Notify';
  const publish = `Publish${name.replace(/^Notify/, '')}Notice`;
  return {
    [name]: lambda('compose-notice', {
      comment:
        'Writes the notification people read from the notice: subject, what happened, the state now, what to do next, console links.',
      parameters: { 'notice.$': '$.notice', 'execution.$': '$$.Execution.Id' },
      resultPath: '$.composed',
      timeout: 15,
      catch: [onError(`${name}Plainly`, { resultPath: '$.composeError' })],
      next: publish,
    }),
    [`${name}Plainly`]: pass({
      comment:
        'The body could not be composed: the notice is published anyway, its summary first, then the notice as JSON.',
      parameters: {
        'subject.$': '$.notice.subject',
        'text.$':
          "States.Format('{} (The readable notification could not be composed: {}.) The notice as JSON: {}', $.notice.summary, $.composeError.Error, States.JsonToString($.notice))",
        'notice.$': 'States.JsonToString($.notice)',
      },
      resultPath: '$.composed',
      next: publish,
    }),
    [publish]: snsPublish({
      comment: o.comment,
      parameters: {
        TopicArn: '${NotificationTopicArn}',
        'Subject.$': '$.composed.subject',
        'Message.$': '$.composed.text',
        MessageAttributes: {
          outcome: { DataType: 'String', 'StringValue.$': '$.notice.outcome' },
          environment: { DataType: 'String', StringValue: '${Environment}' },
          notice: { DataType: 'String', 'StringValue.$': '$.composed.notice' },
        },
      },
      resultPath: '$.notification',
      catch: [onError(o.next, { resultPath: '$.notifyError' })],
      next: o.next,
    }),
  };
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
  Object.assign(
    out,
    publishNotice({
      comment: 'Publishes the notice: what happened, as observed, and the state the environment is left in.',
      next: 'EndByOutcome',
    }),
  );
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
