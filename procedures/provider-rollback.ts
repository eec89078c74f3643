/**
 * Provider rollback, seed 000: restore the flags from the change record, restart the API, verify;
 * if it cannot verify, hold in maintenance mode with the lock held.
 */
import { choice, lambda, RETRY_ON, states } from './asl';
import type { Source } from './budget';
import { acquireLock, awaitStable, notice, validateInput } from './protocol';
import {
  afterChange,
  beforeChange,
  closeAndRelease,
  refusedOrHeld,
  rolledBackFields,
} from './rollback-common';

const procedure = 'provider-rollback';

export default {
  Comment:
    'Provider rollback (seed 000): restore the flags from the change record, restart the API, verify; if it cannot verify, hold in maintenance mode with the lock held.',
  StartAt: 'ValidateInput',
  States: states(
    validateInput({ procedure, step: 'validate-input', next: 'AcquireLock' }),
    acquireLock({ procedure, next: 'PlanRollback' }),
    {
      PlanRollback: lambda('change-record', {
        comment:
          "From the cutover's change record (or the defaults when there is none): the flags to restore, the task definition, the provider to expect.",
        parameters: { action: 'plan', 'changeId.$': '$.request.changeId', procedure: 'provider-cutover' },
        resultPath: '$.plan',
        catch: beforeChange,
        next: 'IsEmergency',
      }),
      IsEmergency: choice({
        comment: "Seed 000's emergency rollback skips preflight.",
        choices: [{ Variable: '$.request.emergency', BooleanEquals: true, next: 'RestoreFlags' }],
        default: 'PreflightFlagDrift',
      }),
      PreflightFlagDrift: lambda('change-record', {
        comment:
          'Preflight: every flag the change set still holds its changed or previous value; anything else was changed since, and the rollback refuses.',
        parameters: { action: 'check-drift', 'changeId.$': '$.plan.changeId' },
        resultPath: '$.preflight',
        catch: beforeChange,
        next: 'RestoreFlags',
      }),
      RestoreFlags: lambda('set-flags', {
        comment: 'Puts back exactly the values the change record holds; flags already there are left alone.',
        parameters: { 'changes.$': '$.plan.restore' },
        resultPath: '$.applied',
        catch: afterChange,
        next: 'RestartApi',
      }),
      RestartApi: lambda('restart-service', {
        comment:
          'Restarts the API on the recorded task definition so it reads the restored provider (seed 000 step 3).',
        parameters: { service: 'api', 'taskDefinition.$': '$.plan.taskDefinition' },
        resultPath: '$.restart',
        catch: afterChange,
        next: 'StartStabilityWait',
      }),
    },
    awaitStable({ onStable: 'VerifyApiProvider', onFailure: 'EnterMaintenance' }),
    {
      // Seed 000, "verify rollback success".
      VerifyApiProvider: lambda('check-health', {
        comment: 'Verify: the API is healthy and reports the provider from before the cutover.',
        parameters: { target: 'api', 'expectProvider.$': '$.plan.expectProvider' },
        resultPath: '$.verifyApi',
        retry: [RETRY_ON.health],
        catch: afterChange,
        next: 'VerifyMemoryThroughApi',
      }),
      VerifyMemoryThroughApi: lambda('smoke-test', {
        comment: 'Verify: a marker memory is stored and recalled through the API on the restored provider.',
        parameters: {
          target: 'api',
          'marker.$': '$.request.marker',
          'expectProvider.$': '$.plan.expectProvider',
        },
        resultPath: '$.verifySmoke',
        retry: [RETRY_ON.smoke],
        catch: afterChange,
        next: 'HasChangeRecord',
      }),
    },
    closeAndRelease({ lockComment: 'A rollback run by a cutover leaves the lock to the cutover.' }),
    {
      DescribeRolledBack: notice({
        comment: 'The rollback verified: the notice names the restored flags and provider.',
        outcome: 'rolled-back',
        subject: 'Switchback: provider rollback verified',
        summary:
          'Provider rollback in ${Environment} restored the flags of change {} and verified the API on provider {} (marker recalled). Reason: {}',
        args: ['$.plan.changeId', '$.plan.expectProvider', '$.request.reason'],
        fields: { ...rolledBackFields, 'provider.$': '$.plan.expectProvider' },
        next: 'ShouldNotify',
      }),
    },
    refusedOrHeld({ kind: 'provider', procedure, fix: 'the API' }),
  ),
} satisfies Source;
