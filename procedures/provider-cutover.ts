/**
 * Provider cutover, seed 000: switch the memory provider from native to http, verify, and roll
 * back from the change record on any failure after the switch.
 */
import { type Json, lambda, onError, RETRY_ON, states } from './asl';
import type { Source } from './budget';
import {
  acquireLock,
  awaitStable,
  delegateAndStart,
  HELD_FIELDS,
  holdForOperator,
  notice,
  notifyAndEnd,
  releaseLock,
  validateInput,
  verifiedBackups,
} from './protocol';

const procedure = 'provider-cutover';
const flags: Json[] = [
  { name: 'memory/provider', value: 'http' },
  { name: 'memory/http-base', 'value.$': '$.request.httpBase' },
];
const beforeChange = [onError('ReleaseLockNothingChanged')];
const afterChange = [onError('RollBack')];

export default {
  Comment:
    'Provider cutover (seed 000): switch the memory provider from native to http, verify, and roll back from the change record on any failure after the switch.',
  StartAt: 'ValidateInput',
  States: states(
    validateInput({ procedure, step: 'validate-input', next: 'AcquireLock' }),
    acquireLock({ procedure, changeId: '$.request.changeId', next: 'PreflightApiHealth' }),
    {
      // Seed 000, "before you start": both providers answer before anything changes.
      PreflightApiHealth: lambda('check-health', {
        comment: 'Preflight: the API answers its health check on the current provider.',
        parameters: { target: 'api' },
        resultPath: '$.preflightApi',
        retry: [RETRY_ON.health],
        catch: beforeChange,
        next: 'PreflightSidecarHealth',
      }),
      PreflightSidecarHealth: lambda('check-health', {
        comment: 'Preflight: the memory sidecar answers its health check at the new http base.',
        parameters: { target: 'sidecar', 'baseUrl.$': '$.request.httpBase' },
        resultPath: '$.preflightSidecar',
        retry: [RETRY_ON.health],
        catch: beforeChange,
        next: 'PreflightSidecarSmoke',
      }),
      PreflightSidecarSmoke: lambda('smoke-test', {
        comment: 'Preflight: the sidecar stores and recalls a marker memory.',
        parameters: { target: 'sidecar', 'baseUrl.$': '$.request.httpBase', 'marker.$': '$.request.marker' },
        resultPath: '$.preflightSmoke',
        retry: [RETRY_ON.smoke],
        catch: beforeChange,
        next: 'BackupBeforeChange',
      }),
      BackupBeforeChange: verifiedBackups({
        comment:
          'Seed 000: always back up before a cutover. Every configured database is backed up and proven restorable by the backup procedure; a failure stops the cutover before anything changed.',
        catch: beforeChange,
        next: 'RecordChange',
      }),
      RecordChange: lambda('change-record', {
        comment:
          'Writes the change record (previous flag values and versions, the backups) before anything changes.',
        parameters: {
          action: 'open',
          'changeId.$': '$.request.changeId',
          procedure,
          'executionId.$': '$$.Execution.Id',
          'reason.$': '$.request.reason',
          'requestedBy.$': '$.request.requestedBy',
          target: flags,
          'backups.$': '$.backups',
        },
        resultPath: '$.change',
        catch: beforeChange,
        next: 'SwitchToHttp',
      }),
      SwitchToHttp: lambda('set-flags', {
        comment: 'Point of no return: from here every failure runs the rollback from the change record.',
        parameters: { changes: flags },
        resultPath: '$.applied',
        catch: afterChange,
        next: 'RestartApi',
      }),
      RestartApi: lambda('restart-service', {
        comment: 'Restarts the API so it reads the new provider (seed 000: restart the API service).',
        parameters: { service: 'api' },
        resultPath: '$.restart',
        catch: afterChange,
        next: 'StartStabilityWait',
      }),
    },
    awaitStable({ onStable: 'VerifyApiProvider', onFailure: 'RollBack' }),
    {
      VerifyApiProvider: lambda('check-health', {
        comment: 'Verify: the API reports provider http.',
        parameters: { target: 'api', expectProvider: 'http' },
        resultPath: '$.verifyApi',
        retry: [RETRY_ON.health],
        catch: afterChange,
        next: 'VerifySidecar',
      }),
      VerifySidecar: lambda('check-health', {
        comment: 'Verify: the sidecar is still healthy behind the API.',
        parameters: { target: 'sidecar', 'baseUrl.$': '$.request.httpBase' },
        resultPath: '$.verifySidecar',
        retry: [RETRY_ON.health],
        catch: afterChange,
        next: 'VerifyMemoryThroughApi',
      }),
      VerifyMemoryThroughApi: lambda('smoke-test', {
        comment: 'Verify: a marker memory is stored and recalled through the API on the new provider.',
        parameters: { target: 'api', 'marker.$': '$.request.marker', expectProvider: 'http' },
        resultPath: '$.verifySmoke',
        retry: [RETRY_ON.smoke],
        catch: afterChange,
        next: 'CloseChange',
      }),
      CloseChange: lambda('change-record', {
        comment: 'Marks the change record completed; a failure here is noted, the cutover stands.',
        parameters: {
          action: 'close',
          'changeId.$': '$.request.changeId',
          status: 'completed',
          'executionId.$': '$$.Execution.Id',
        },
        resultPath: '$.closed',
        catch: [onError('ReleaseLock', { resultPath: '$.closeError' })],
        next: 'ReleaseLock',
      }),
      ReleaseLock: releaseLock({ next: 'DescribeSuccess' }),
      DescribeSuccess: notice({
        comment: 'The cutover is verified: the notice names the new flags.',
        outcome: 'cutover-succeeded',
        subject: 'Switchback: provider cutover succeeded',
        summary:
          'Memory provider switched to http ({}) in ${Environment} and verified: API reports http, sidecar healthy, marker recalled through the API. Change {} is recorded; lock released.',
        args: ['$.request.httpBase', '$.request.changeId'],
        fields: {
          'changeId.$': '$.request.changeId',
          'reason.$': '$.request.reason',
          flags: { 'memory/provider': 'http', 'memory/http-base.$': '$.request.httpBase' },
          lock: 'released',
        },
        next: 'Notify',
      }),
      ReleaseLockNothingChanged: releaseLock({ next: 'DescribePreflightFailure' }),
      DescribePreflightFailure: notice({
        comment: 'A preflight, the backup or the record failed: nothing was changed.',
        outcome: 'preflight-failed',
        subject: 'Switchback: provider cutover stopped before any change',
        summary: 'Cutover {} stopped before changing anything: {}: {}. Flags untouched, lock released.',
        args: ['$.request.changeId', '$.failure.Error', '$.failure.Cause'],
        fields: {
          'changeId.$': '$.request.changeId',
          'error.$': '$.failure.Error',
          'cause.$': '$.failure.Cause',
          changed: false,
          lock: 'released',
        },
        next: 'Notify',
      }),
    },
    delegateAndStart({ delegate: 'RollBack', start: 'StartRollback' }, 'provider-rollback', {
      comment: "Runs provider-rollback from this change's record, inheriting this execution's lock.",
      input: {
        'reason.$':
          "States.Format('Automatic rollback of cutover {} after {}', $.request.changeId, $.failure.Error)",
        requestedBy: 'switchback',
        'changeId.$': '$.request.changeId',
        'parentExecutionId.$': '$$.Execution.Id',
        trigger: { source: 'cutover', 'error.$': '$.failure.Error', 'cause.$': '$.failure.Cause' },
      },
      resultSelector: {
        'executionArn.$': '$.ExecutionArn',
        'status.$': '$.Status',
        'output.$': '$.Output',
      },
      resultPath: '$.rollback',
      catch: [onError('EnterMaintenance', { resultPath: '$.rollbackFailure' })],
      next: 'ReleaseLockAfterRollback',
    }),
    {
      ReleaseLockAfterRollback: releaseLock({ next: 'DescribeRolledBack' }),
      DescribeRolledBack: notice({
        comment: 'The rollback verified the recorded flags: the notice says what it restored.',
        outcome: 'rolled-back',
        subject: 'Switchback: provider cutover failed and was rolled back',
        summary:
          'Cutover {} failed after the flags changed ({}: {}). It was rolled back to the recorded flags and the rollback verified the API on provider {}. Lock released.',
        args: ['$.request.changeId', '$.failure.Error', '$.failure.Cause', '$.rollback.output.provider'],
        fields: {
          'changeId.$': '$.request.changeId',
          'error.$': '$.failure.Error',
          'cause.$': '$.failure.Cause',
          'rollbackExecution.$': '$.rollback.executionArn',
          'flags.$': '$.rollback.output.flags',
          lock: 'released',
        },
        next: 'Notify',
      }),
    },
    holdForOperator({ next: 'DescribeHeld' }),
    {
      DescribeHeld: notice({
        comment: 'The rollback did not verify: the environment is held for an operator.',
        outcome: 'rollback-failed',
        subject: 'Switchback: ACTION NEEDED - rollback could not verify',
        summary:
          'Cutover {} failed ({}: {}) and its rollback did not verify ({}). Flags may be partly restored: check memory/provider and the API, then run provider-rollback again or release the lock with `switchback unlock`. {}',
        args: [
          '$.request.changeId',
          '$.failure.Error',
          '$.failure.Cause',
          '$.rollbackFailure.Error',
          '$.observed.summary',
        ],
        fields: {
          'changeId.$': '$.request.changeId',
          'error.$': '$.failure.Error',
          'cause.$': '$.failure.Cause',
          'rollbackError.$': '$.rollbackFailure.Error',
          'rollbackCause.$': '$.rollbackFailure.Cause',
          ...HELD_FIELDS,
        },
        next: 'Notify',
      }),
    },
    notifyAndEnd({
      endings: [
        {
          outcome: 'preflight-failed',
          fail: 'PreflightFailed',
          error: 'PreflightFailedError',
          comment: 'Stopped before any change.',
        },
        {
          outcome: 'rolled-back',
          fail: 'CutoverRolledBack',
          error: 'CutoverRolledBackError',
          comment: 'The cutover failed and was rolled back and verified.',
        },
        {
          outcome: 'rollback-failed',
          fail: 'RollbackFailed',
          error: 'RollbackFailedError',
          comment: 'The rollback did not verify: held for an operator.',
        },
      ],
      otherwise: { succeed: 'CutoverSucceeded', comment: 'Switched to http and verified.' },
    }),
  ),
} satisfies Source;
