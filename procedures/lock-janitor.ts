/**
 * Lock janitor: started by EventBridge when a cutover or rollback execution ends FAILED,
 * TIMED_OUT or ABORTED. It frees the lock that execution left, but never one held on purpose for
 * an operator, and never while the environment may be half changed: it observes the lock, the
 * maintenance flag and the API first, and in doubt it keeps the lock (needs-operator) and says so.
 */
import { choice, dynamodb, lambda, onError, pass, states, succeed } from './asl';
import { notice, publishNotice } from './protocol';

const LOCK = { TableName: '${LockTableName}', Key: { pk: { S: '${Environment}' } } } as const;
const LEFT_BY_IT = {
  ConditionExpression: '#owner = :owner AND #status = :held',
  ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
} as const;
const OWNER_AND_HELD = { ':owner': { 'S.$': '$.detail.executionArn' }, ':held': { S: 'held' } } as const;
const notNow = onError('NothingToRelease', {
  errors: ['DynamoDB.ConditionalCheckFailedException'],
  resultPath: null,
});

import type { Source } from './budget';

export default {
  Comment:
    'Lock janitor: started by EventBridge when a cutover or rollback execution ends FAILED, TIMED_OUT or ABORTED.',
  StartAt: 'ReleaseOrphanedIncident',
  States: states({
    // A rollback router that died with its incident open would have every later alarm deduplicated
    // until the cool-down ends: the incident is closed as orphaned, so the next alarm starts anew.
    ReleaseOrphanedIncident: dynamodb('updateItem', {
      comment:
        'If the stopped execution is a rollback router whose incident is still open, closes it as orphaned so the next alarm is handled, not deduplicated.',
      parameters: {
        TableName: '${LockTableName}',
        Key: { pk: { S: '${Environment}#incident' } },
        UpdateExpression: 'SET #status = :orphaned, expiresAt = :now',
        ConditionExpression: '#owner = :owner AND #status = :open',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
        ExpressionAttributeValues: {
          ':owner': { 'S.$': '$.detail.executionArn' },
          ':open': { S: 'open' },
          ':orphaned': { S: 'orphaned' },
          ':now': { N: '0' },
        },
        ReturnValues: 'ALL_NEW',
      },
      resultSelector: { 'incidentId.$': '$.Attributes.incidentId.S' },
      resultPath: '$.orphaned',
      catch: [
        onError('ReadLeftLock', { errors: ['DynamoDB.ConditionalCheckFailedException'], resultPath: null }),
      ],
      next: 'DescribeOrphaned',
    }),
    DescribeOrphaned: notice({
      comment: 'Says the incident lost its router: alarms already in ALARM do not fire again by themselves.',
      outcome: 'incident-orphaned',
      subject: 'Switchback: ACTION NEEDED - the rollback router stopped during an incident',
      summary:
        'Rollback router {} ended {} while handling incident {} in ${Environment}. The incident is closed as orphaned, so the next alarm starts a new response; alarms already in ALARM do not fire again by themselves.',
      args: ['$.detail.executionArn', '$.detail.status', '$.orphaned.incidentId'],
      fields: {
        'stoppedExecution.$': '$.detail.executionArn',
        'status.$': '$.detail.status',
        'incidentId.$': '$.orphaned.incidentId',
        next: 'Check the alarms still in ALARM, the lock and the flags (switchback status), and start the rollback by hand if one is needed.',
      },
      next: 'NotifyOrphaned',
    }),
    ...publishNotice({
      name: 'NotifyOrphaned',
      comment: 'Publishes the orphaned incident notice; the janitor goes on to the lock either way.',
      next: 'ReadLeftLock',
    }),
    ReadLeftLock: dynamodb('getItem', {
      comment: 'Reads the lock as the stopped execution left it.',
      parameters: { ...LOCK, ConsistentRead: true },
      resultPath: '$.heldLock',
      catch: [onError('ObserveEnvironment', { resultPath: '$.heldLockError' })],
      next: 'ObserveEnvironment',
    }),
    ObserveEnvironment: lambda('observe-hold', {
      comment: 'Observes the maintenance flag, what the API serves and the lock before anything is freed.',
      parameters: { 'state.$': '$' },
      resultPath: '$.observed',
      catch: [onError('ObservationUnavailable', { resultPath: '$.observeError' })],
      next: 'IsLeftByIt',
    }),
    // In doubt, keep the lock: the conditional update still only touches a lock this execution left.
    ObservationUnavailable: pass({
      comment: 'Nothing could be observed: the lock is kept, and the message says so.',
      parameters: {
        summary:
          'Observed: nothing (the observation step failed): check the maintenance-mode flag, what the API serves and the lock by hand.',
      },
      resultPath: '$.observed',
      next: 'KeepLeftLock',
    }),
    IsLeftByIt: choice({
      comment:
        'Only a lock the stopped execution still holds in status held is this janitor business (a needs-operator lock is held on purpose).',
      choices: [
        {
          Not: { Variable: '$.observed.lockOwner', StringEqualsPath: '$.detail.executionArn' },
          next: 'NothingToRelease',
        },
        { Not: { Variable: '$.observed.lockStatus', StringEquals: 'held' }, next: 'NothingToRelease' },
        { Variable: '$.observed.maintenanceFlag', StringEquals: 'off', next: 'ReleaseLeakedLock' },
      ],
      // Maintenance on, or the flag unreadable: the environment may be half changed.
      default: 'KeepLeftLock',
    }),
    // Not releaseLock(): the owner is the stopped execution from the event, and status must be 'held'.
    ReleaseLeakedLock: dynamodb('deleteItem', {
      comment:
        'Deletes the lock only if the execution that just FAILED, TIMED_OUT or was ABORTED owns it and it is not held on purpose for an operator.',
      parameters: {
        ...LOCK,
        ...LEFT_BY_IT,
        ExpressionAttributeValues: OWNER_AND_HELD,
        ReturnValues: 'ALL_OLD',
      },
      resultSelector: { 'procedure.$': '$.Attributes.procedure.S', 'owner.$': '$.Attributes.owner.S' },
      resultPath: '$.released',
      catch: [notNow],
      next: 'DescribeReleased',
    }),
    DescribeReleased: notice({
      comment: 'Tells the team a stopped execution left the lock and it was released; the flags need a look.',
      outcome: 'lock-released',
      subject: 'Switchback: released a lock left by a stopped execution',
      summary: 'Execution {} ended {} while holding the ${Environment} lock ({}). The lock was released. {}',
      args: ['$.detail.executionArn', '$.detail.status', '$.released.procedure', '$.observed.summary'],
      fields: {
        'stoppedExecution.$': '$.detail.executionArn',
        'status.$': '$.detail.status',
        'procedure.$': '$.released.procedure',
        next: 'Check the flags and the change record of the stopped execution (switchback status, switchback describe) before the next change.',
      },
      next: 'NotifyReleased',
    }),
    ...publishNotice({
      name: 'NotifyReleased',
      comment: 'Publishes the released-lock notice.',
      next: 'Released',
    }),
    Released: succeed({ comment: 'The lock a stopped execution left was released, and the team told.' }),
    KeepLeftLock: dynamodb('updateItem', {
      comment:
        'The environment may be half changed (maintenance on, or unobservable): the lock is kept for an operator, not freed.',
      parameters: {
        ...LOCK,
        UpdateExpression: 'SET #status = :stuck',
        ...LEFT_BY_IT,
        ExpressionAttributeValues: { ...OWNER_AND_HELD, ':stuck': { S: 'needs-operator' } },
      },
      resultPath: null,
      catch: [notNow],
      next: 'DescribeKept',
    }),
    DescribeKept: notice({
      comment: 'Tells the team the lock was kept for an operator, and what was observed.',
      outcome: 'lock-kept',
      subject: 'Switchback: ACTION NEEDED - a stopped execution left the environment held',
      summary:
        'Execution {} ended {} while holding the ${Environment} lock, and the environment may be half changed, so the lock was kept (status needs-operator) instead of being released. {}',
      args: ['$.detail.executionArn', '$.detail.status', '$.observed.summary'],
      fields: {
        'stoppedExecution.$': '$.detail.executionArn',
        'status.$': '$.detail.status',
        lockStatus: 'needs-operator',
        next: 'Check the flags, the API and the change record, then run the rollback, or release the lock with switchback unlock --env <env> --owner <the stopped execution>.',
      },
      next: 'NotifyKept',
    }),
    ...publishNotice({
      name: 'NotifyKept',
      comment: 'Publishes the kept-lock notice.',
      next: 'Kept',
    }),
    Kept: succeed({ comment: 'The lock was kept for an operator, and the team told.' }),
    NothingToRelease: succeed({
      comment:
        'The execution did not hold the lock, released it itself, or holds it on purpose (needs-operator).',
    }),
  }),
} satisfies Source;
