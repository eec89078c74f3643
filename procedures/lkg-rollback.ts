/**
 * Code rollback and config rollback (seeds 001 and 004: "identify the last known good and put it
 * back"), one source for both: every target changed since its last known good, from the change
 * journal, back to it, whoever made the change. Code: the services' task definitions (an ECS
 * deployment still in progress is stopped with ROLLBACK, otherwise the service is updated).
 * Config: the watched parameters' values, put back by value, then the readers that read at start
 * restarted. Then stable, verified (API and sidecar health, a marker through the API), journaled.
 * `plan: true` changes nothing and reports what would change, from what to what.
 */
import { choice, fail, lambda, map, onError, pass, RETRY_ON, states, succeed } from './asl';
import type { Source } from './budget';
import { acquireLock, awaitStable, ifLockInherited, notice, releaseLock, validateInput } from './protocol';
import { afterChange, beforeChange, refusedOrHeld } from './rollback-common';

export type RollbackKind = 'code' | 'config';

const TEXT = {
  code: {
    title: 'Code rollback',
    comment:
      'Code rollback (seeds 001 and 004): the protected services back to their last known good task definitions, from the change journal, whoever deployed what came after (CI, an operator, ECS). A deployment still in progress is stopped with ROLLBACK; otherwise the service is updated. Stable, verified, journaled; if it cannot verify, maintenance mode on and the lock held for an operator. `plan: true` changes nothing and reports what would change.',
    apply:
      'Stops each deployment still in progress with ROLLBACK, or updates each service to its last known good task definition.',
    fix: 'the services',
  },
  config: {
    title: 'Config rollback',
    comment:
      "Config rollback (seed 001's quick rollback): every watched parameter changed since its last known good put back to that value (by value: a new version, history intact), whoever changed it; the services that read a value at start restarted. Stable, verified, journaled; if it cannot verify, maintenance mode on and the lock held for an operator. `plan: true` changes nothing and reports what would change.",
    apply:
      'Puts each watched parameter back to its last known good value (a new version), then restarts the services that read it at start.',
    fix: 'the configuration',
  },
} as const;

const PLAN_PARAMETERS = {
  'kind.$': '$.request.kind',
  'select.$': '$.request.select',
  'emergency.$': '$.request.emergency',
};

export default function lkgRollback(kind: RollbackKind): Source {
  const procedure = `${kind}-rollback`;
  const text = TEXT[kind];
  return {
    Comment: text.comment,
    StartAt: 'ValidateInput',
    States: states(
      validateInput({ procedure, step: 'rollback-input', next: 'IsPlanOnly' }),
      {
        IsPlanOnly: choice({
          comment: 'Plan mode takes no lock and changes nothing: it reports what the rollback would do.',
          choices: [{ Variable: '$.request.plan', BooleanEquals: true, next: 'PlanOnly' }],
          default: 'AcquireLock',
        }),
        PlanOnly: lambda('rollback-plan', {
          comment:
            'From the journal, the alarms history and what runs now: each target, from what to what, and why.',
          parameters: PLAN_PARAMETERS,
          resultPath: '$.plan',
          catch: [onError('PlanRefused', { resultPath: 'replace' })],
          next: 'DescribePlanned',
        }),
        PlanRefused: fail({
          comment: 'The plan could not be made (an unknown journal entry, no journal): nothing was changed.',
          errorPath: '$.Error',
          causePath: '$.Cause',
        }),
        DescribePlanned: pass({
          comment:
            'The plan, as the execution output: what would change, from what to what. Nothing changed.',
          parameters: {
            outcome: 'planned',
            environment: '${Environment}',
            'execution.$': '$$.Execution.Id',
            'action.$': '$.plan.action',
            'why.$': '$.plan.why',
            'changes.$': '$.plan.changes',
            'targets.$': '$.plan.targets',
            changed: false,
          },
          resultPath: '$.notice',
          next: 'Planned',
        }),
        Planned: succeed({ comment: 'Plan mode: nothing was changed.', outputPath: '$.notice' }),
      },
      acquireLock({ procedure, next: 'PlanRollback', changeId: '$.request.changeId' }),
      {
        PlanRollback: lambda('rollback-plan', {
          comment:
            'Under the lock: each target back to its last known good (functions/shared/last-known-good.ts), or a hold when nothing is known good.',
          parameters: PLAN_PARAMETERS,
          resultPath: '$.plan',
          catch: beforeChange,
          next: 'WhatToDo',
        }),
        WhatToDo: choice({
          comment:
            'Nothing known good for a target: refused, nothing changed (never a guess). Everything already on its last known good: nothing to do.',
          choices: [
            { Variable: '$.plan.action', StringEquals: 'hold', next: 'NothingKnownGood' },
            { Variable: '$.plan.action', StringEquals: 'nothing', next: 'IsLockInheritedNothingToDo' },
          ],
          default: 'ApplyRollback',
        }),
        NothingKnownGood: pass({
          comment:
            'The plan found nothing known good to go back to: recorded as NoKnownGoodError, as observed.',
          parameters: { Error: 'NoKnownGoodError', 'Cause.$': '$.plan.why' },
          resultPath: '$.failure',
          next: 'IsLockInheritedBeforeChange',
        }),
        IsLockInheritedNothingToDo: ifLockInherited({
          comment: 'Nothing to do: a rollback run by the router leaves the lock to it; otherwise released.',
          inherited: 'DescribeNothingToDo',
          owned: 'ReleaseLockNothingToDo',
        }),
        ReleaseLockNothingToDo: releaseLock({ next: 'DescribeNothingToDo' }),
        DescribeNothingToDo: notice({
          comment: 'Every target is already on its last known good: nothing was changed.',
          outcome: 'nothing-to-roll-back',
          subject: `Switchback: ${kind} rollback found nothing to roll back`,
          summary: `${text.title} in \${Environment} changed nothing: {}. Reason: {}`,
          args: ['$.plan.why', '$.request.reason'],
          fields: { 'changes.$': '$.plan.changes', changed: false, 'trigger.$': '$.request.trigger' },
          next: 'ShouldNotify',
        }),
        ApplyRollback: lambda('rollback-apply', {
          comment: text.apply,
          parameters: { action: 'apply', 'kind.$': '$.request.kind', 'apply.$': '$.plan.apply' },
          resultPath: '$.applied',
          catch: afterChange,
          next: 'WaitForServices',
        }),
        WaitForServices: map({
          comment: 'Waits, bounded, until each rolled back or restarted service is stable.',
          itemsPath: '$.applied.deployments',
          itemSelector: {
            'service.$': '$$.Map.Item.Value.service',
            'deploymentId.$': '$$.Map.Item.Value.deploymentId',
            'timing.$': '$.request.timing',
          },
          maxConcurrency: 0,
          startAt: 'StartStabilityWait',
          states: states(
            awaitStable({
              service: { 'service.$': '$.service' },
              deploymentIdPath: '$.deploymentId',
              timingPath: '$.timing',
              notStableCause:
                "States.Format('The {} service did not become stable after {} checks ({} of {} tasks running, rollout {}).', $.service, $.stability.attempt, $.stability.runningCount, $.stability.desiredCount, $.stability.rolloutState)",
              onStable: 'ServiceStable',
              onFailure: 'ServiceNotStable',
            }),
            {
              ServiceStable: succeed({ comment: 'This service is stable.' }),
              ServiceNotStable: fail({
                comment: 'This service did not settle: the rollback holds for an operator.',
                errorPath: '$.failure.Error',
                causePath: '$.failure.Cause',
              }),
            },
          ),
          resultPath: null,
          catch: afterChange,
          next: 'VerifyApi',
        }),
        VerifyApi: lambda('check-health', {
          comment: 'Verify: the API answers its health check.',
          parameters: { target: 'api' },
          resultPath: '$.verifyApi',
          retry: [RETRY_ON.health],
          catch: afterChange,
          next: 'VerifySidecar',
        }),
        VerifySidecar: lambda('check-health', {
          comment: 'Verify: the memory sidecar answers its health check.',
          parameters: { target: 'sidecar' },
          resultPath: '$.verifySidecar',
          retry: [RETRY_ON.health],
          catch: afterChange,
          next: 'VerifyMemoryThroughApi',
        }),
        VerifyMemoryThroughApi: lambda('smoke-test', {
          comment: 'Verify: a marker memory is stored and recalled through the API.',
          parameters: { target: 'api', 'marker.$': '$.request.marker' },
          resultPath: '$.verifySmoke',
          retry: [RETRY_ON.smoke],
          catch: afterChange,
          next: 'RecordRollback',
        }),
        RecordRollback: lambda('rollback-apply', {
          comment: 'Journals the verified rollback; a failure here is noted, the rollback stands.',
          parameters: {
            action: 'record',
            procedure,
            'kind.$': '$.request.kind',
            'executionName.$': '$$.Execution.Name',
            'requestedBy.$': '$.request.requestedBy',
            'applied.$': '$.applied',
          },
          resultPath: '$.recorded',
          catch: [onError('IsLockInherited', { resultPath: '$.recordError' })],
          next: 'IsLockInherited',
        }),
        IsLockInherited: ifLockInherited({
          comment: 'A rollback run by the router leaves the lock to it; otherwise released.',
          inherited: 'DescribeRolledBack',
          owned: 'ReleaseLock',
        }),
        ReleaseLock: releaseLock({ next: 'DescribeRolledBack' }),
        DescribeRolledBack: notice({
          comment: 'The rollback verified: the notice names each target, from what to what.',
          outcome: 'rolled-back',
          subject: `Switchback: ${kind} rollback verified`,
          summary: `${text.title} in \${Environment} put back the last known good and verified the API and the sidecar (marker recalled): {}. Reason: {}`,
          args: ['$.plan.why', '$.request.reason'],
          fields: {
            'changeId.$': '$.plan.changeId',
            'changes.$': '$.plan.changes',
            'applied.$': '$.applied',
            'emergency.$': '$.request.emergency',
            'trigger.$': '$.request.trigger',
            'lock.$': '$.request.lock',
          },
          next: 'ShouldNotify',
        }),
      },
      refusedOrHeld({ kind, procedure, fix: text.fix }),
    ),
  };
}
