/**
 * Emergency disable, seed 003 ("Immediate Disable (< 1 minute)"): Memory & Context off for
 * everyone, verified from the app; a restart if the app does not follow; held for an operator if
 * even that does not verify. An emergency does not wait for the lock.
 */
import { choice, type JsonObject, lambda, onError, pass, states } from './asl';
import type { Source } from './budget';
import {
  acquireLock,
  awaitStable,
  HELD_FIELDS,
  holdForOperator,
  ifLockInherited,
  notice,
  notifyAndEnd,
  releaseLock,
  validateInput,
} from './protocol';

const procedure = 'feature-disable';
const toHold = [onError('EnterMaintenance')];

/** Records in `$.lockState` how this execution stands with the lock, then disables the flag. */
const lockState = (comment: string, state: { result: JsonObject } | { parameters: JsonObject }) =>
  pass({ comment, ...state, resultPath: '$.lockState', next: 'DisableFlag' });

/** Asks the app, from outside, whether it serves the feature off (GET /api/v1/config). */
const verifyOff = (comment: string, window: JsonObject, next: string, failure: string, target: string) =>
  lambda('feature-check', {
    comment,
    parameters: { mode: 'off', 'minVersion.$': '$.disabled.version', ...window },
    timeout: 100,
    resultPath: '$.verify',
    catch: [onError(target, { resultPath: failure })],
    next,
  });

export default {
  Comment:
    "Emergency disable (seed 003, < 1 minute): Memory & Context off for everyone, verified from the app's /api/v1/config within the budget; a restart of the API if the app does not follow; maintenance mode and the lock held for an operator if even that does not verify.",
  StartAt: 'ValidateInput',
  States: states(
    validateInput({ procedure, step: 'feature-input', startTime: true, next: 'IsLockInherited' }),
    {
      IsLockInherited: ifLockInherited({
        comment: 'A rollout that rolls itself back runs this with its lock.',
        inherited: 'LockInherited',
        owned: 'AcquireLock',
      }),
      LockInherited: lockState(
        'Runs under the lock of the rollout that started it: nothing to take or release.',
        {
          result: { taken: false, inherited: true, heldBy: null },
        },
      ),
    },
    acquireLock({
      procedure,
      next: 'LockTaken',
      whenHeld: { known: 'LockBusy', unknown: 'LockBusyUnknownHolder' },
    }),
    {
      LockTaken: lockState('The lock is taken by this execution, to be released at the end.', {
        result: { taken: true, inherited: false, heldBy: null },
      }),
      LockBusy: lockState(
        'An emergency does not wait: the disable proceeds without the lock. A rollout holding it stops at its next step (the flag changed under it).',
        { parameters: { taken: false, inherited: false, 'heldBy.$': '$.lockHolder.owner' } },
      ),
      LockBusyUnknownHolder: lockState(
        'Another execution holds the lock and could not be read: the disable proceeds without it all the same.',
        { result: { taken: false, inherited: false, heldBy: 'unknown' } },
      ),
      DisableFlag: lambda('disable-feature', {
        comment: 'Flag off for everyone (overwrites even a malformed value); already off changes nothing.',
        parameters: {},
        timeout: 30,
        resultPath: '$.disabled',
        catch: toHold,
        next: 'VerifyOff',
      }),
      VerifyOff: verifyOff(
        "The app must serve the feature off (GET /api/v1/config, three answers in a row) within the budget, counted from this execution's start.",
        { 'since.$': '$.request.startedAt', 'withinSeconds.$': '$.request.budgetSeconds' },
        'ShouldRecordInRolloutLog',
        '$.verifyFailure',
        'RestartApi',
      ),
      RestartApi: lambda('restart-service', {
        comment:
          'Fallback when the app still serves the feature: a new deployment makes every task read the flag afresh.',
        parameters: { service: 'api' },
        resultPath: '$.restart',
        catch: toHold,
        next: 'StartStabilityWait',
      }),
    },
    awaitStable({ onStable: 'VerifyOffAfterRestart', onFailure: 'EnterMaintenance' }),
    {
      VerifyOffAfterRestart: verifyOff(
        'After the restart the app must serve the feature off within 60 s; if not, the environment is held for an operator.',
        { since: null, withinSeconds: 60 },
        'ShouldRecordInRolloutLog',
        '$.failure',
        'EnterMaintenance',
      ),
      ShouldRecordInRolloutLog: choice({
        comment:
          'Only a disable run for a rollout writes to its log (IsNull true: the local engine never matches IsNull false).',
        choices: [{ Variable: '$.request.rolloutId', IsNull: true, next: 'ShouldReleaseLock' }],
        default: 'RecordInRolloutLog',
      }),
      RecordInRolloutLog: lambda('rollout', {
        comment:
          'Writes the disable to the rollout log as a decision; a failure is noted, the disable stands.',
        parameters: {
          action: 'record',
          'rolloutId.$': '$.request.rolloutId',
          type: 'disabled',
          'message.$':
            "States.Format('Feature disabled: flag off at version {} (was {}), the app served it off {} ms after the disable started. Reason: {}', $.disabled.version, $.disabled.previous.state, $.verify.servedAfterMs, $.request.reason)",
        },
        resultPath: null,
        catch: [onError('ShouldReleaseLock', { resultPath: '$.recordError' })],
        next: 'ShouldReleaseLock',
      }),
      ShouldReleaseLock: choice({
        comment: 'Releases the lock only when this execution took it (not inherited, not busy).',
        choices: [{ Variable: '$.lockState.taken', BooleanEquals: true, next: 'ReleaseLock' }],
        default: 'DescribeDisabled',
      }),
      ReleaseLock: releaseLock({ next: 'DescribeDisabled' }),
      DescribeDisabled: notice({
        comment:
          'The feature is off and the app serves it off: the notice says how fast, against the budget.',
        outcome: 'feature-disabled',
        subject: 'Switchback: Memory & Context disabled',
        summary:
          'Memory & Context is off for everyone in ${Environment}: flag version {} (was {}), and the app served it off {} ms after the disable started (budget {} s). Reason: {}',
        args: [
          '$.disabled.version',
          '$.disabled.previous.state',
          '$.verify.servedAfterMs',
          '$.request.budgetSeconds',
          '$.request.reason',
        ],
        fields: {
          'flagVersion.$': '$.disabled.version',
          'previous.$': '$.disabled.previous.state',
          'servedOffAfterMs.$': '$.verify.servedAfterMs',
          'budgetSeconds.$': '$.request.budgetSeconds',
          'trigger.$': '$.request.trigger',
          'rolloutId.$': '$.request.rolloutId',
          'lock.$': '$.lockState',
        },
        next: 'ShouldNotify',
      }),
    },
    holdForOperator({ next: 'DescribeHeld' }),
    {
      DescribeHeld: notice({
        comment: 'The disable did not verify: the environment is held for an operator.',
        outcome: 'disable-failed',
        subject: 'Switchback: ACTION NEEDED - Memory & Context disable could not verify',
        summary:
          'The Memory & Context disable in ${Environment} could not verify ({}: {}). Check features/memory-context and GET /api/v1/config, then run feature-disable again after `switchback unlock`. {}',
        args: ['$.failure.Error', '$.failure.Cause', '$.observed.summary'],
        fields: {
          'error.$': '$.failure.Error',
          'cause.$': '$.failure.Cause',
          ...HELD_FIELDS,
        },
        next: 'ShouldNotify',
      }),
    },
    notifyAndEnd({
      skipWhenInherited: '$.lockState.inherited',
      endings: [
        {
          outcome: 'disable-failed',
          fail: 'DisableFailed',
          error: 'RollbackFailedError',
          comment: 'The disable did not verify: held for an operator.',
        },
      ],
      otherwise: {
        succeed: 'Disabled',
        comment: 'The feature is off for everyone and the app serves it off.',
      },
    }),
  ),
} satisfies Source;
