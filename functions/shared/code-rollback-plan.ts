import type { JournalEntry } from './journal';
import { type AlarmHistory, type LkgOptions, lastKnownGood, type Verdict } from './last-known-good';
import type { ServiceKey, ServiceState } from './ports';

/**
 * What a code rollback would do, service by service, from the journal, the alarms' history and
 * what ECS runs now. The procedure (and its plan mode) acts on exactly this; nothing here changes
 * anything.
 */
export type ServicePlan =
  | {
      readonly service: ServiceKey;
      /** `stop-deployment`: a deployment away from the LKG is still in progress (StopServiceDeployment ROLLBACK). */
      readonly action: 'stop-deployment' | 'update-service';
      readonly from: string;
      readonly to: string;
      /** The deployment to stop (stop-deployment only). */
      readonly deploymentId: string | null;
      /** The journal entries since the LKG: the changes being undone. */
      readonly undoes: readonly string[];
      readonly reason: string;
    }
  | {
      readonly service: ServiceKey;
      readonly action: 'nothing';
      readonly from: string;
      readonly to: string;
      readonly undoes: readonly string[];
      readonly reason: string;
    }
  | {
      readonly service: ServiceKey;
      readonly action: 'hold';
      readonly from: string;
      readonly undoes: readonly string[];
      readonly reason: string;
      readonly verdicts: readonly Verdict[];
    };

export function planCodeRollback(o: {
  readonly services: readonly ServiceKey[];
  readonly entries: readonly JournalEntry[];
  readonly history: AlarmHistory;
  readonly current: Readonly<Partial<Record<ServiceKey, ServiceState>>>;
  readonly options: LkgOptions;
}): ServicePlan[] {
  return o.services.map((service): ServicePlan => {
    const state = o.current[service];
    if (!state) throw new Error(`planCodeRollback: no current state of ${service}`);
    const from = state.taskDefinition;
    const lkg = lastKnownGood(`service:${service}`, o.entries, o.history, o.options);
    if (!lkg.known) {
      return { service, action: 'hold', from, undoes: lkg.since, reason: lkg.reason, verdicts: lkg.verdicts };
    }
    const to = lkg.lkg.state.type === 'service' ? lkg.lkg.state.taskDefinition : null;
    if (!to) {
      return {
        service,
        action: 'hold',
        from,
        undoes: lkg.since,
        reason: `the last known good of ${service} names no task definition`,
        verdicts: lkg.verdicts,
      };
    }
    const inProgress = state.deployments.find(
      (d) => d.status === 'PRIMARY' && d.rolloutState === 'IN_PROGRESS',
    );
    if (inProgress && inProgress.taskDefinition !== to) {
      const previous = state.deployments.find((d) => d.status === 'ACTIVE');
      // StopServiceDeployment ROLLBACK returns ECS to the deployment before: only when that is the LKG.
      if (previous?.taskDefinition === to) {
        return {
          service,
          action: 'stop-deployment',
          from: inProgress.taskDefinition,
          to,
          deploymentId: inProgress.id,
          undoes: lkg.since,
          reason: `deployment ${inProgress.id} to ${inProgress.taskDefinition} is in progress; stopping it rolls back to ${to}, the last known good`,
        };
      }
    }
    const serving = inProgress?.taskDefinition ?? from;
    if (serving === to) {
      return {
        service,
        action: 'nothing',
        from,
        to,
        undoes: [],
        reason: inProgress
          ? `deployment ${inProgress.id} to the last known good ${to} is already in progress`
          : `${service} already runs its last known good ${to}`,
      };
    }
    return {
      service,
      action: 'update-service',
      from: serving,
      to,
      deploymentId: null,
      undoes: lkg.since,
      reason: `${serving} went into service after the last known good ${to} (in service since ${lkg.lkg.since ?? 'before the journal'})`,
    };
  });
}
