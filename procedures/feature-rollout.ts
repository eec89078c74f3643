/**
 * Phased feature rollout, seed 003: Memory & Context from off to 100 % in phases (internal users,
 * 10 % canary, everyone), each baking while the metric gate is evaluated every interval; a failed
 * gate, check or approval runs feature-disable. A dry run evaluates and logs, and changes nothing.
 */
import { choice, integration, type JsonObject, lambda, onError, pass, states, wait } from './asl';
import type { Source } from './budget';
import { functionPlaceholder, RESOURCE } from './integrations';
import {
  acquireLock,
  delegateAndStart,
  HELD_FIELDS,
  holdForOperator,
  notice,
  notifyAndEnd,
  publishNotice,
  releaseLock,
  validateInput,
} from './protocol';

const procedure = 'feature-rollout';
const rolloutId = { 'rolloutId.$': '$.request.rolloutId' };
const toRollBack = [onError('ShouldRollBack')];

/** Dry runs take no lock: the lock is taken, and released, only when the request says so. */
const ifTakesLock = (comment: string, yes: string, no: string) =>
  choice({
    comment,
    choices: [{ Variable: '$.request.lock.take', BooleanEquals: true, next: yes }],
    default: no,
  });

/** Closes the rollout log with its final status; a failure is kept in `$.closeError` and the end goes on. */
const close = (comment: string, status: string, message: string, next: string) =>
  lambda('rollout', {
    comment,
    parameters: { action: 'close', ...rolloutId, status, 'message.$': message },
    resultPath: '$.closed',
    catch: [onError(next, { resultPath: '$.closeError' })],
    next,
  });

/** A failure recorded as a named error from the gate's summary. */
const gateError = (comment: string, error: string, next: string) =>
  pass({ comment, parameters: { Error: error, 'Cause.$': '$.gate.summary' }, resultPath: '$.failure', next });

const failureFields: JsonObject = {
  ...rolloutId,
  'error.$': '$.failure.Error',
  'cause.$': '$.failure.Cause',
};

export default {
  Comment:
    'Phased feature rollout (seed 003): Memory & Context from off to 100 % in phases, each baking while a metric gate is evaluated every interval; a failed gate, check or approval runs feature-disable.',
  StartAt: 'ValidateInput',
  States: states(
    validateInput({ procedure, step: 'feature-input', startTime: true, next: 'ShouldTakeLock' }),
    { ShouldTakeLock: ifTakesLock('A dry run changes nothing and takes no lock.', 'AcquireLock', 'OpenLog') },
    acquireLock({ procedure, changeId: '$.request.rolloutId', next: 'OpenLog' }),
    {
      OpenLog: lambda('rollout', {
        comment:
          'Reads the flag as it is (a malformed value is refused here: InvalidFlagValueError) and writes the rollout log with every phase planned.',
        parameters: {
          action: 'open',
          ...rolloutId,
          'executionId.$': '$$.Execution.Id',
          'reason.$': '$.request.reason',
          'requestedBy.$': '$.request.requestedBy',
          'dryRun.$': '$.request.dryRun',
          'phases.$': '$.request.phases',
          'gate.$': '$.request.gate',
          'approval.$': '$.request.approval',
        },
        resultPath: '$.log',
        catch: [onError('ShouldReleaseLockRefused')],
        next: 'StartPhases',
      }),
      StartPhases: pass({
        comment: 'Starts at the first phase, from the flag version the log read.',
        parameters: { index: 0, 'flagVersion.$': '$.log.flagVersion' },
        resultPath: '$.cursor',
        next: 'SelectPhase',
      }),
      SelectPhase: pass({
        comment: 'Picks the current phase from the plan (off, internal users, 10 % canary, 100 %).',
        parameters: {
          'index.$': '$.cursor.index',
          'flagVersion.$': '$.cursor.flagVersion',
          'phase.$': 'States.ArrayGetItem($.request.phases, $.cursor.index)',
          approval: null,
        },
        resultPath: '$.cursor',
        next: 'NeedsApproval',
      }),
      NeedsApproval: choice({
        comment: 'Between phases (never before the first), when the input asks for it; never in a dry run.',
        choices: [
          {
            And: [
              { Variable: '$.request.approval.required', BooleanEquals: true },
              { Variable: '$.request.dryRun', BooleanEquals: false },
              { Variable: '$.cursor.index', NumericGreaterThan: 0 },
            ],
            next: 'PrepareApproval',
          },
        ],
        default: 'StartPhase',
      }),
      PrepareApproval: pass({
        comment:
          "Shaped so that TimeoutSecondsPath resolves to the same value in the state input and in the task's parameters.",
        parameters: {
          Payload: {
            ...rolloutId,
            'phase.$': '$.cursor.phase.name',
            'index.$': '$.cursor.index',
            'timeoutSeconds.$': '$.request.approval.timeoutSeconds',
          },
        },
        resultPath: '$.approvalRequest',
        next: 'DescribeApprovalNeeded',
      }),
      DescribeApprovalNeeded: notice({
        comment: 'The previous phase passed its gate: the notice asks an operator to approve the next one.',
        outcome: 'approval-needed',
        subject: 'Switchback: feature rollout waiting for approval',
        summary:
          'Rollout {} in ${Environment} passed its previous phase and waits for approval before phase {} ({}). Approve with: switchback approve --env ${Environment} (or --reject). Without an answer within {} s it rolls back (the feature is disabled).',
        args: [
          '$.request.rolloutId',
          'States.MathAdd($.cursor.index, 1)',
          '$.cursor.phase.title',
          '$.request.approval.timeoutSeconds',
        ],
        fields: {
          ...rolloutId,
          'phase.$': '$.cursor.phase.name',
          'timeoutSeconds.$': '$.request.approval.timeoutSeconds',
        },
        next: 'NotifyApprovalNeeded',
      }),
      ...publishNotice({
        name: 'NotifyApprovalNeeded',
        comment:
          'Publishes the approval request; a failure is noted and the rollout still waits for the answer.',
        next: 'AwaitApproval',
      }),
      AwaitApproval: {
        ...integration(RESOURCE.lambdaInvokeWaitForTaskToken, {
          policy: 'lambda',
          comment:
            'Waits for SendTaskSuccess (switchback approve) or SendTaskFailure (--reject, ApprovalRejectedError); a timeout (States.Timeout) rolls back.',
          inputPath: '$.approvalRequest',
          parameters: {
            FunctionName: `\${${functionPlaceholder('request-approval')}}`,
            Payload: {
              'rolloutId.$': '$.Payload.rolloutId',
              'phase.$': '$.Payload.phase',
              'index.$': '$.Payload.index',
              'timeoutSeconds.$': '$.Payload.timeoutSeconds',
              'taskToken.$': '$$.Task.Token',
            },
          },
          resultPath: '$.cursor.approval',
          catch: toRollBack,
          next: 'StartPhase',
        }),
        // The builder has no TimeoutSecondsPath option (see the report).
        TimeoutSecondsPath: '$.Payload.timeoutSeconds',
      },
      StartPhase: lambda('rollout', {
        comment:
          "Sets the phase's flag value (the point of no return for the first enabling phase); refuses with FlagDriftError if someone else changed the flag.",
        parameters: {
          action: 'start-phase',
          ...rolloutId,
          'index.$': '$.cursor.index',
          'expectVersion.$': '$.cursor.flagVersion',
          'dryRun.$': '$.request.dryRun',
          'approval.$': '$.cursor.approval',
        },
        resultPath: '$.phase',
        catch: [
          onError('CloseInterrupted', { errors: ['FlagDriftError'] }),
          onError('ClosePaused', { errors: ['AutomationPausedError'] }),
          ...toRollBack,
        ],
        next: 'ShouldCheckPhase',
      }),
      ShouldCheckPhase: choice({
        comment: 'A dry run changed no flag, so there is nothing to check: it goes straight to the gate.',
        choices: [{ Variable: '$.request.dryRun', BooleanEquals: true, next: 'InitGate' }],
        default: 'CheckPhase',
      }),
      CheckPhase: lambda('feature-check', {
        comment:
          "Seed 003's checks for this phase, from outside: config, disabled answers, create/list/preview for internal users, stickiness by percentage.",
        parameters: {
          mode: 'phase',
          'expect.$': '$.cursor.phase.flag',
          'minVersion.$': '$.phase.flagVersion',
          'withinSeconds.$': '$.request.checks.withinSeconds',
          'label.$': "States.Format('{} {}', $.request.rolloutId, $.cursor.phase.name)",
        },
        timeout: 100,
        resultPath: '$.check',
        catch: toRollBack,
        next: 'InitGate',
      }),
      InitGate: pass({
        comment: "Starts the phase's gate: no evaluation yet, no failures.",
        result: { evaluation: 0, consecutiveFailures: 0, decision: 'continue', phaseComplete: false },
        resultPath: '$.gate',
        next: 'Bake',
      }),
      Bake: wait({
        comment: 'Bake time: waits one gate interval before the metrics are read again.',
        secondsPath: '$.request.gate.intervalSeconds',
        next: 'EvaluateGate',
      }),
      EvaluateGate: lambda('evaluate-gate', {
        comment:
          "Reads the last interval's metrics and P0 alarms, judges them, logs the evaluation and decides.",
        parameters: {
          ...rolloutId,
          'dryRun.$': '$.request.dryRun',
          phase: {
            'index.$': '$.cursor.index',
            'name.$': '$.cursor.phase.name',
            'evaluations.$': '$.cursor.phase.evaluations',
          },
          'gate.$': '$.request.gate',
          state: {
            'evaluation.$': '$.gate.evaluation',
            'consecutiveFailures.$': '$.gate.consecutiveFailures',
          },
          'flagVersion.$': '$.phase.flagVersion',
        },
        resultPath: '$.gate',
        catch: toRollBack,
        next: 'GateDecision',
      }),
      GateDecision: choice({
        comment:
          'Gate failed: roll back. Flag changed by someone else: stop. Enough passing evaluations: the phase is complete. Otherwise bake on.',
        choices: [
          { Variable: '$.gate.decision', StringEquals: 'roll-back', next: 'GateFailed' },
          { Variable: '$.gate.decision', StringEquals: 'interrupted', next: 'InterruptedByGate' },
          { Variable: '$.gate.phaseComplete', BooleanEquals: true, next: 'CompletePhase' },
        ],
        default: 'Bake',
      }),
      GateFailed: gateError(
        'The gate criteria failed: recorded as GateFailedError, then rolled back.',
        'GateFailedError',
        'RollBack',
      ),
      InterruptedByGate: gateError(
        'The gate saw the flag changed by someone else: recorded as FlagDriftError, the flag left as it is.',
        'FlagDriftError',
        'CloseInterrupted',
      ),
      CompletePhase: lambda('rollout', {
        comment: 'Marks the phase passed in the rollout log.',
        parameters: { action: 'complete-phase', ...rolloutId, 'index.$': '$.cursor.index' },
        resultPath: null,
        catch: toRollBack,
        next: 'NextPhase',
      }),
      NextPhase: pass({
        comment: 'Moves on to the next phase, from the flag version this phase set.',
        parameters: {
          'index.$': 'States.MathAdd($.cursor.index, 1)',
          'flagVersion.$': '$.phase.flagVersion',
        },
        resultPath: '$.cursor',
        next: 'MorePhases',
      }),
      MorePhases: choice({
        comment: 'Another phase planned: select it. All passed: the rollout is complete.',
        choices: [
          { Variable: '$.cursor.index', NumericLessThanPath: '$.request.phaseCount', next: 'SelectPhase' },
        ],
        default: 'CloseCompleted',
      }),
      CloseCompleted: close(
        'Closes the rollout log as completed: every phase passed its gate.',
        'completed',
        "States.Format('All {} phases passed their gates.', $.request.phaseCount)",
        'ShouldReleaseLockDone',
      ),
      ShouldReleaseLockDone: ifTakesLock('Dry runs take no lock.', 'ReleaseLock', 'DescribeDryRunCompleted'),
      ReleaseLock: releaseLock({ next: 'DescribeCompleted' }),
      DescribeCompleted: notice({
        comment: 'All phases passed: the notice says the flag stays at the last phase and where the log is.',
        outcome: 'rollout-completed',
        subject: 'Switchback: feature rollout completed',
        summary:
          'Rollout {} of Memory & Context in ${Environment} passed all {} phases and their gates; the flag stays at the last phase. Rollout log: rollouts/${Environment}/{}.md in the backup bucket. Lock released.',
        args: ['$.request.rolloutId', '$.request.phaseCount', '$.request.rolloutId'],
        fields: { ...rolloutId, 'flagVersion.$': '$.cursor.flagVersion', lock: 'released' },
        next: 'Notify',
      }),
      DescribeDryRunCompleted: notice({
        comment: 'The dry run evaluated every gate and changed nothing: the notice says where its log is.',
        outcome: 'dry-run-completed',
        subject: 'Switchback: feature rollout dry run completed',
        summary:
          'Dry run {} in ${Environment} evaluated the gates of all {} phases and logged what it would have decided; nothing was changed. Rollout log: rollouts/${Environment}/{}.md in the backup bucket.',
        args: ['$.request.rolloutId', '$.request.phaseCount', '$.request.rolloutId'],
        fields: { ...rolloutId, dryRun: true },
        next: 'Notify',
      }),
      ShouldReleaseLockRefused: ifTakesLock(
        'Dry runs take no lock.',
        'ReleaseLockRefused',
        'DescribeRefused',
      ),
      ReleaseLockRefused: releaseLock({ next: 'DescribeRefused' }),
      DescribeRefused: notice({
        comment: 'The rollout log could not be opened: nothing was changed.',
        outcome: 'rollout-refused',
        subject: 'Switchback: feature rollout refused, nothing changed',
        summary: 'Rollout {} in ${Environment} stopped before changing anything: {}: {}',
        args: ['$.request.rolloutId', '$.failure.Error', '$.failure.Cause'],
        fields: { ...failureFields, changed: false },
        next: 'Notify',
      }),
      CloseInterrupted: close(
        'Closes the rollout log as interrupted: someone else changed the flag.',
        'interrupted',
        '$.failure.Cause',
        'ShouldReleaseLockInterrupted',
      ),
      ShouldReleaseLockInterrupted: ifTakesLock(
        'Dry runs take no lock.',
        'ReleaseLockInterrupted',
        'DescribeInterrupted',
      ),
      ReleaseLockInterrupted: releaseLock({ next: 'DescribeInterrupted' }),
      DescribeInterrupted: notice({
        comment: 'The flag was changed by someone else: the rollout stops and leaves it as it is.',
        outcome: 'rollout-interrupted',
        subject: 'Switchback: feature rollout stopped, flag changed by someone else',
        summary: 'Rollout {} in ${Environment} stopped: {} The flag was left as it is. Lock released.',
        args: ['$.request.rolloutId', '$.failure.Cause'],
        fields: { ...rolloutId, 'cause.$': '$.failure.Cause', lock: 'released' },
        next: 'Notify',
      }),
      ClosePaused: close(
        'Closes the rollout log as interrupted, by the kill switch: the rollout does not advance.',
        'interrupted',
        '$.failure.Cause',
        'ShouldReleaseLockPaused',
      ),
      ShouldReleaseLockPaused: ifTakesLock('Dry runs take no lock.', 'ReleaseLockPaused', 'DescribePaused'),
      ReleaseLockPaused: releaseLock({ next: 'DescribePaused' }),
      DescribePaused: notice({
        comment:
          'The kill switch stopped the rollout before its next phase: the flag stays where the last passed phase set it.',
        outcome: 'rollout-paused',
        subject: 'Switchback: feature rollout stopped by the kill switch, flag left as it is',
        summary:
          'Rollout {} in ${Environment} stopped before its next phase: {} Nothing was rolled back. Lock released.',
        args: ['$.request.rolloutId', '$.failure.Cause'],
        fields: { ...rolloutId, 'cause.$': '$.failure.Cause', lock: 'released' },
        next: 'Notify',
      }),
      ShouldRollBack: choice({
        comment: 'A dry run never changed anything, so it never rolls back: it ends and says why.',
        choices: [{ Variable: '$.request.dryRun', BooleanEquals: true, next: 'CloseDryRunFailed' }],
        default: 'RollBack',
      }),
      CloseDryRunFailed: close(
        'Closes the dry run log as failed, with the error.',
        'failed',
        "States.Format('Dry run failed: {}: {}', $.failure.Error, $.failure.Cause)",
        'DescribeDryRunFailed',
      ),
      DescribeDryRunFailed: notice({
        comment: 'The dry run could not finish; it changed nothing.',
        outcome: 'dry-run-failed',
        subject: 'Switchback: feature rollout dry run failed, nothing changed',
        summary: 'Dry run {} in ${Environment} could not finish ({}: {}). It never changes anything.',
        args: ['$.request.rolloutId', '$.failure.Error', '$.failure.Cause'],
        fields: { ...failureFields, changed: false },
        next: 'Notify',
      }),
    },
    delegateAndStart({ delegate: 'RollBack', start: 'StartRollback' }, 'feature-disable', {
      comment:
        "Runs feature-disable (flag off for everyone, verified from the app), inheriting this execution's lock.",
      input: {
        'reason.$':
          "States.Format('Automatic rollback of rollout {} after {}', $.request.rolloutId, $.failure.Error)",
        requestedBy: 'switchback',
        ...rolloutId,
        'parentExecutionId.$': '$$.Execution.Id',
        trigger: { source: 'rollout', 'error.$': '$.failure.Error', 'cause.$': '$.failure.Cause' },
      },
      resultSelector: {
        'executionArn.$': '$.ExecutionArn',
        'status.$': '$.Status',
        'output.$': '$.Output',
      },
      resultPath: '$.rollback',
      catch: [onError('EnterMaintenance', { resultPath: '$.rollbackFailure' })],
      next: 'CloseRolledBack',
    }),
    {
      CloseRolledBack: close(
        'Closes the rollout log as rolled back: the feature was disabled and verified off.',
        'rolled-back',
        "States.Format('{}: {}. The feature was disabled and verified off after {} ms.', $.failure.Error, $.failure.Cause, $.rollback.output.servedOffAfterMs)",
        'ReleaseLockAfterRollback',
      ),
      ReleaseLockAfterRollback: releaseLock({ next: 'DescribeRolledBack' }),
      DescribeRolledBack: notice({
        comment: 'The disable verified the feature off: the notice says why the rollout was rolled back.',
        outcome: 'rolled-back',
        subject: 'Switchback: feature rollout rolled back, feature off',
        summary:
          'Rollout {} in ${Environment} failed ({}: {}) and was rolled back: the flag is off for everyone and the app served it off after {} ms. Lock released.',
        args: [
          '$.request.rolloutId',
          '$.failure.Error',
          '$.failure.Cause',
          '$.rollback.output.servedOffAfterMs',
        ],
        fields: {
          ...failureFields,
          'rollbackExecution.$': '$.rollback.executionArn',
          'flagVersion.$': '$.rollback.output.flagVersion',
          lock: 'released',
        },
        next: 'Notify',
      }),
    },
    holdForOperator({ next: 'CloseRollbackFailed' }),
    {
      CloseRollbackFailed: close(
        'Closes the rollout log as rollback-failed: the disable did not verify.',
        'rollback-failed',
        "States.Format('{}: {}; the disable did not verify ({}).', $.failure.Error, $.failure.Cause, $.rollbackFailure.Error)",
        'DescribeHeld',
      ),
      DescribeHeld: notice({
        comment: 'The disable did not verify: the environment is held for an operator.',
        outcome: 'rollback-failed',
        subject: 'Switchback: ACTION NEEDED - feature disable could not verify',
        summary:
          'Rollout {} in ${Environment} failed ({}: {}) and the emergency disable did not verify ({}). Check features/memory-context and what /api/v1/config serves, then run feature-disable again after `switchback unlock`. {}',
        args: [
          '$.request.rolloutId',
          '$.failure.Error',
          '$.failure.Cause',
          '$.rollbackFailure.Error',
          '$.observed.summary',
        ],
        fields: {
          ...failureFields,
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
          outcome: 'rollout-refused',
          fail: 'RolloutRefused',
          error: 'RolloutRefusedError',
          comment: 'Stopped before any change.',
        },
        {
          outcome: 'rolled-back',
          fail: 'RolloutRolledBack',
          error: 'RolloutRolledBackError',
          comment: 'The rollout failed and the feature was disabled and verified off.',
        },
        {
          outcome: 'rollout-interrupted',
          fail: 'RolloutInterrupted',
          error: 'RolloutInterruptedError',
          comment: 'Someone else changed the flag: stopped, the flag left as it is.',
        },
        {
          outcome: 'rollout-paused',
          fail: 'RolloutPaused',
          error: 'AutomationPausedError',
          comment: 'The kill switch is on: stopped before the next phase, the flag left as it is.',
        },
        {
          outcome: 'rollback-failed',
          fail: 'RollbackFailed',
          error: 'RollbackFailedError',
          comment: 'The disable did not verify: held for an operator.',
        },
        {
          outcome: 'dry-run-failed',
          fail: 'DryRunFailed',
          error: 'DryRunFailedError',
          comment: 'The dry run could not finish; nothing was changed.',
        },
      ],
      otherwise: {
        succeed: 'RolloutSucceeded',
        comment: 'Every phase passed its gate (or the dry run completed).',
      },
    }),
  ),
} satisfies Source;
