/**
 * Every procedure, by name: the sources `npm run asl` renders to `statemachines/<name>.asl.json`.
 * The stack, the local engine, the CLI and the tests read the rendered files; this list is the one
 * place that says which procedures exist, and what follows from their definitions.
 */
import type { AslState, Definition, States } from './asl';
import backup from './backup';
import { DESIGN_BOUNDS, derivedTimeouts } from './budget';
import codeRollback from './code-rollback';
import configRollback from './config-rollback';
import databaseCutover from './database-cutover';
import databaseRollback from './database-rollback';
import drill from './drill';
import featureDisable from './feature-disable';
import featureRollout from './feature-rollout';
import { RESOURCE } from './integrations';
import lockJanitor from './lock-janitor';
import providerCutover from './provider-cutover';
import providerRollback from './provider-rollback';
import restore from './restore';
import rollbackRouter from './rollback-router';

/**
 * Each execution's `TimeoutSeconds` is derived here, never written in a source: its worst path
 * under the design bounds (`procedures/budget.ts`), children first, rounded up to 5 minutes. A
 * stage whose settings go beyond those bounds is refused at synth (`lib/config/readiness.ts`).
 */
export const PROCEDURES = derivedTimeouts(
  {
    'provider-cutover': providerCutover,
    'provider-rollback': providerRollback,
    'feature-rollout': featureRollout,
    'feature-disable': featureDisable,
    'database-cutover': databaseCutover,
    'database-rollback': databaseRollback,
    backup,
    'lock-janitor': lockJanitor,
    'restore-postgres': restore('postgres'),
    'restore-sqlite': restore('sqlite'),
    'rollback-router': rollbackRouter,
    'code-rollback': codeRollback,
    'config-rollback': configRollback,
    drill,
  } as const,
  DESIGN_BOUNDS,
) satisfies Record<string, Definition>;

export type ProcedureName = keyof typeof PROCEDURES;
export const PROCEDURE_NAMES = Object.keys(PROCEDURES).sort() as ProcedureName[];

/** Every state of a definition, with those inside Map processors and Parallel branches. */
export function allStates(states: States): [string, AslState][] {
  return Object.entries(states).flatMap(([name, state]): [string, AslState][] => {
    const processor = state.ItemProcessor as { States: States } | undefined;
    const branches = (state.Branches as { States: States }[] | undefined) ?? [];
    return [
      [name, state],
      ...(processor ? allStates(processor.States) : []),
      ...branches.flatMap((b) => allStates(b.States)),
    ];
  });
}

/** Whether a definition takes the environment lock (a conditional put on the lock table). */
export function takesLock(definition: Definition): boolean {
  return allStates(definition.States).some(
    ([, s]) =>
      s.Resource === RESOURCE.dynamodb('putItem') &&
      (s.Parameters as { TableName?: unknown } | undefined)?.TableName === '${LockTableName}',
  );
}

/**
 * The procedures that take the environment lock: the janitor's rule watches exactly these, on AWS
 * (`lib/execution-lock.ts`) as in the local engine, so a lock left by one that died is freed.
 */
export const LOCK_TAKERS: readonly ProcedureName[] = PROCEDURE_NAMES.filter((n) => takesLock(PROCEDURES[n]));

/**
 * Where each procedure passes its point of no return: every Task from `from` until one of `until`
 * (the end of verification, or a hand-over such as an interruption by the router) must
 * reach the compensation `to` on any error, and a compensation that cannot verify must hold the
 * environment for an operator (`test/procedures.test.ts` checks both over the graph).
 */
export const COMPENSATIONS: Partial<
  Record<ProcedureName, { readonly from: string; readonly until: readonly string[]; readonly to: string }>
> = {
  'provider-cutover': { from: 'SwitchToHttp', until: ['CloseChange'], to: 'RollBack' },
  'provider-rollback': { from: 'RestoreFlags', until: ['HasChangeRecord'], to: 'EnterMaintenance' },
  'restore-postgres': { from: 'StartMaintenance', until: ['UpdateRetention'], to: 'RecoverMaintenance' },
  'restore-sqlite': { from: 'StartMaintenance', until: ['UpdateRetention'], to: 'RecoverMaintenance' },
  'database-cutover': { from: 'MaintenanceOn', until: ['CloseChange'], to: 'RollBack' },
  'database-rollback': { from: 'SwitchBack', until: ['HasChangeRecord'], to: 'EnterMaintenance' },
  'feature-rollout': { from: 'StartPhase', until: ['CloseCompleted', 'InterruptedByGate'], to: 'RollBack' },
  'feature-disable': { from: 'DisableFlag', until: ['ShouldRecordInRolloutLog'], to: 'EnterMaintenance' },
  'code-rollback': { from: 'ApplyRollback', until: ['RecordRollback'], to: 'EnterMaintenance' },
  'config-rollback': { from: 'ApplyRollback', until: ['RecordRollback'], to: 'EnterMaintenance' },
};
