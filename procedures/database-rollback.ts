/**
 * Database rollback, seed 002 "quick rollback": maintenance on, database/active back to the
 * connection the change record names, restart, verify the old store, maintenance off, restart and
 * verify again. The new database is left intact for investigation.
 */
import { choice, type JsonObject, lambda, pass, RETRY_ON, states } from './asl';
import type { Source } from './budget';
import { initDatabaseState } from './database-state';
import { acquireLock, awaitStable, notice, validateInput } from './protocol';
import {
  afterChange,
  beforeChange,
  closeAndRelease,
  refusedOrHeld,
  rolledBackFields,
} from './rollback-common';

const procedure = 'database-rollback';
/** The database checks run SQL and vector searches: they get more time than a Lambda step's default. */
const CHECK_TIMEOUT = 330;

/** One smoke test of the API on the restored connection, in the given phase. */
const smoke = (o: {
  comment: string;
  phase: string;
  maintenance: JsonObject;
  resultPath: string;
  next: string;
}) =>
  lambda('database-check', {
    comment: o.comment,
    parameters: {
      action: 'smoke',
      'changeId.$': '$.plan.changeId',
      phase: o.phase,
      'expect.$': '$.plan.restoreTo',
      ...o.maintenance,
    },
    timeout: CHECK_TIMEOUT,
    resultPath: o.resultPath,
    retry: [RETRY_ON.smoke],
    catch: afterChange,
    next: o.next,
  });

export default {
  Comment:
    'Database rollback (seed 002): maintenance on, switch database/active back to the connection the change record names, restart, verify the API and a vector search on the old store, maintenance off. The new database is left intact for investigation. If it cannot verify: maintenance stays on, the lock is held for an operator.',
  StartAt: 'ValidateInput',
  States: states(
    validateInput({ procedure, step: 'database-input', next: 'InitState' }),
    {
      InitState: initDatabaseState,
    },
    acquireLock({ procedure, next: 'PlanRollback' }),
    {
      PlanRollback: lambda('database-check', {
        comment:
          'From the change record: the connection and maintenance mode before the cutover. Refuses (nothing changed) when database/active names neither side, unless emergency.',
        parameters: {
          action: 'plan-rollback',
          'changeId.$': '$.request.changeId',
          'emergency.$': '$.request.emergency',
        },
        timeout: CHECK_TIMEOUT,
        resultPath: '$.plan',
        catch: beforeChange,
        next: 'SwitchBack',
      }),
      SwitchBack: lambda('set-flags', {
        comment:
          'Seed 002 quick rollback 1-2: maintenance on and the previous connection, in one step. Nothing touches the new database: it stays intact for investigation.',
        parameters: {
          changes: [
            { name: 'maintenance-mode', value: 'on' },
            { name: 'database/active', 'value.$': '$.plan.restoreTo' },
          ],
        },
        resultPath: '$.applied',
        catch: afterChange,
        next: 'PhaseRestored',
      }),
      PhaseRestored: pass({
        comment: 'First restart: on the previous connection, still in maintenance.',
        result: 'restored',
        resultPath: '$.phase',
        next: 'RestartApi',
      }),
      RestartApi: lambda('restart-service', {
        comment:
          "A new ECS deployment: the API's tasks restart and read database/active and maintenance-mode afresh (seed 002 step 4).",
        parameters: { service: 'api', 'taskDefinition.$': '$.plan.taskDefinition' },
        resultPath: '$.restart',
        catch: afterChange,
        next: 'StartStabilityWait',
      }),
    },
    awaitStable({ onStable: 'AfterRestart', onFailure: 'EnterMaintenance' }),
    {
      AfterRestart: choice({
        comment: 'One restart sequence, used at each phase; the phase says where to go on.',
        choices: [{ Variable: '$.phase', StringEquals: 'restored', next: 'VerifyOldStore' }],
        default: 'VerifyServing',
      }),
      VerifyOldStore: smoke({
        comment:
          'Seed 002 quick rollback 4: the API healthy on the previous connection, that database answering, a vector search on the old store (Qdrant).',
        phase: 'after-rollback',
        maintenance: { expectMaintenance: true },
        resultPath: '$.verifyOld',
        next: 'MaintenanceOff',
      }),
      MaintenanceOff: lambda('set-flags', {
        comment: 'The old store verified: maintenance mode back to what it was before the cutover.',
        parameters: { changes: [{ name: 'maintenance-mode', 'value.$': '$.plan.restoreMaintenance' }] },
        resultPath: '$.maintenanceOff',
        catch: afterChange,
        next: 'PhaseServing',
      }),
      PhaseServing: pass({
        comment: 'Second restart: the API reads the restored maintenance mode and serves again.',
        result: 'serving',
        resultPath: '$.phase',
        next: 'RestartApi',
      }),
      VerifyServing: smoke({
        comment:
          'Verify again after the second restart: the API serving on the previous connection, maintenance as before.',
        phase: 'rollback-serving',
        maintenance: { 'expectMaintenance.$': '$.plan.restoreMaintenanceOn' },
        resultPath: '$.verifyServing',
        next: 'HasChangeRecord',
      }),
    },
    closeAndRelease({ lockComment: 'A rollback run by a cutover or the router leaves the lock to it.' }),
    {
      DescribeRolledBack: notice({
        comment: 'The rollback verified: the notice names the connection switched back to.',
        outcome: 'rolled-back',
        subject: 'Switchback: database rollback verified',
        summary:
          'Database rollback in ${Environment} switched back to {} (change {}) and verified the API and a vector search on the old store. The new database was left intact for investigation. Reason: {}',
        args: ['$.plan.restoreTo', '$.plan.changeId', '$.request.reason'],
        fields: { ...rolledBackFields, 'restoredTo.$': '$.plan.restoreTo' },
        next: 'ShouldNotify',
      }),
    },
    refusedOrHeld({ kind: 'database', procedure, fix: 'the API or the old store' }),
  ),
} satisfies Source;
