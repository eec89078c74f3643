/**
 * What provider-rollback and database-rollback share around their own restore steps: the catchers
 * before and after the first change, closing the change record and releasing the lock, and the
 * refused / held / rolled-back endings. Each rollback's own file reads as its runbook.
 */
import { choice, type JsonObject, lambda, onError, type States, states } from './asl';
import { HELD_FIELDS, holdForOperator, ifLockInherited, notice, notifyAndEnd, releaseLock } from './protocol';

/** Before the first change: a failure is a refusal, nothing changed. */
export const beforeChange = [onError('IsLockInheritedBeforeChange')];
/** After the first change: a failure holds the environment for an operator. */
export const afterChange = [onError('EnterMaintenance')];

/** The fields every rolled-back notice carries besides the procedure's own. */
export const rolledBackFields = {
  'changeId.$': '$.plan.changeId',
  'source.$': '$.plan.source',
  'flags.$': '$.applied.flags',
  'emergency.$': '$.request.emergency',
  'trigger.$': '$.request.trigger',
  'lock.$': '$.request.lock',
} as const satisfies JsonObject;

/**
 * Verified: `HasChangeRecord`, `CloseChange` (when the plan came from a record), then the lock is
 * released unless it was inherited; every path goes on to `DescribeRolledBack`.
 */
export function closeAndRelease(o: { readonly lockComment: string }): States {
  return {
    HasChangeRecord: choice({
      comment: 'A rollback to defaults has no change record to close.',
      choices: [{ Variable: '$.plan.changeId', IsNull: true, next: 'IsLockInherited' }],
      default: 'CloseChange',
    }),
    CloseChange: lambda('change-record', {
      comment: 'Marks the change record rolled back; a failure here is noted, the rollback stands.',
      parameters: {
        action: 'close',
        'changeId.$': '$.plan.changeId',
        status: 'rolled-back',
        'executionId.$': '$$.Execution.Id',
      },
      resultPath: '$.closed',
      catch: [onError('IsLockInherited', { resultPath: '$.closeError' })],
      next: 'IsLockInherited',
    }),
    IsLockInherited: ifLockInherited({
      comment: o.lockComment,
      inherited: 'DescribeRolledBack',
      owned: 'ReleaseLock',
    }),
    ReleaseLock: releaseLock({ next: 'DescribeRolledBack' }),
  };
}

/**
 * The refusal (nothing changed, lock released unless inherited), the hold for an operator, and
 * the notification and end by outcome, which a rollback run by its parent leaves to the parent.
 */
export function refusedOrHeld(o: {
  /** `provider` or `database`: the rollback's name in the notices. */
  readonly kind: string;
  readonly procedure: string;
  /** What the operator fixes before running the rollback again. */
  readonly fix: string;
}): States {
  const title = `${o.kind.charAt(0).toUpperCase()}${o.kind.slice(1)} rollback in \${Environment}`;
  return states(
    {
      IsLockInheritedBeforeChange: ifLockInherited({
        comment:
          'Refused before any change: a rollback run by its parent leaves the lock to it; otherwise released.',
        inherited: 'DescribeRefused',
        owned: 'ReleaseLockNothingChanged',
      }),
      ReleaseLockNothingChanged: releaseLock({ next: 'DescribeRefused' }),
      DescribeRefused: notice({
        comment: 'The plan or its preflight refused the rollback: nothing was changed.',
        outcome: 'rollback-refused',
        subject: `Switchback: ${o.kind} rollback refused, nothing changed`,
        summary: `${title} refused before changing anything: {}: {}`,
        args: ['$.failure.Error', '$.failure.Cause'],
        fields: { 'error.$': '$.failure.Error', 'cause.$': '$.failure.Cause', changed: false },
        next: 'ShouldNotify',
      }),
    },
    holdForOperator({ next: 'DescribeHeld' }),
    {
      DescribeHeld: notice({
        comment: 'The rollback could not verify: the environment is held for an operator.',
        outcome: 'rollback-failed',
        subject: `Switchback: ACTION NEEDED - ${o.kind} rollback could not verify`,
        summary: `${title} could not complete ({}: {}). Fix ${o.fix}, then run ${o.procedure} again after \`switchback unlock\`. {}`,
        args: ['$.failure.Error', '$.failure.Cause', '$.observed.summary'],
        fields: {
          'changeId.$': '$.plan.changeId',
          'error.$': '$.failure.Error',
          'cause.$': '$.failure.Cause',
          ...HELD_FIELDS,
        },
        next: 'ShouldNotify',
      }),
    },
    notifyAndEnd({
      skipWhenInherited: '$.request.lock.inherited',
      endings: [
        {
          outcome: 'rollback-refused',
          fail: 'RollbackRefused',
          error: 'RollbackRefusedError',
          comment: 'Refused before any change.',
        },
        {
          outcome: 'rollback-failed',
          fail: 'RollbackFailed',
          error: 'RollbackFailedError',
          comment: 'The rollback did not verify: held for an operator.',
        },
      ],
      otherwise: { succeed: 'RolledBack', comment: 'Rolled back and verified.' },
    }),
  );
}
