import { functionPlaceholder as placeholderOf } from '../procedures/integrations';
import { backupCatalog } from './backup-catalog/backup-catalog';
import { changeRecord } from './change-record/change-record';
import { checkHealth } from './check-health/check-health';
import { checkStable } from './check-stable/check-stable';
import { composeNotice } from './compose-notice/compose-notice';
import { dataResult } from './data-result/data-result';
import { databaseCheck } from './database-check/database-check';
import { databaseInput } from './database-input/database-input';
import { databaseReport } from './database-report/database-report';
import { disableFeature } from './disable-feature/disable-feature';
import { drill } from './drill/drill';
import { drillInput } from './drill-input/drill-input';
import { evaluateGate } from './evaluate-gate/evaluate-gate';
import { featureCheck } from './feature-check/feature-check';
import { featureInput } from './feature-input/feature-input';
import { healthProbe } from './health-probe/health-probe';
import { incidentReport } from './incident-report/incident-report';
import { journal } from './journal/journal';
import { migrateVectors } from './migrate-vectors/migrate-vectors';
import { observeHold } from './observe-hold/observe-hold';
import { planResponse } from './plan-response/plan-response';
import { requestApproval } from './request-approval/request-approval';
import { restartService } from './restart-service/restart-service';
import { rollbackApply } from './rollback-apply/rollback-apply';
import { rollbackInput } from './rollback-input/rollback-input';
import { rollbackPlan } from './rollback-plan/rollback-plan';
import { rollout } from './rollout/rollout';
import { routeAlarm } from './route-alarm/route-alarm';
import { scaleService } from './scale-service/scale-service';
import { setFlags } from './set-flags/set-flags';
import { smokeTest } from './smoke-test/smoke-test';
import { validateDataInput } from './validate-data-input/validate-data-input';
import { validateInput } from './validate-input/validate-input';

/**
 * Every step, by the name of its folder under `functions/`. The CDK builds one Lambda per entry
 * and the ASL placeholder `${<Pascal>FunctionArn}` names it; the local engine maps the same
 * placeholder back to the step.
 */
export const STEPS = {
  'validate-input': validateInput,
  'check-health': checkHealth,
  'smoke-test': smokeTest,
  'change-record': changeRecord,
  'set-flags': setFlags,
  'restart-service': restartService,
  'check-stable': checkStable,
  'route-alarm': routeAlarm,
  'plan-response': planResponse,
  'incident-report': incidentReport,
  'health-probe': healthProbe,
  'data-result': dataResult,
  'backup-catalog': backupCatalog,
  'scale-service': scaleService,
  'validate-data-input': validateDataInput,
  'feature-input': featureInput,
  rollout,
  'feature-check': featureCheck,
  'evaluate-gate': evaluateGate,
  'request-approval': requestApproval,
  'disable-feature': disableFeature,
  // Database cutover (seed 002): Qdrant -> pgvector.
  'database-input': databaseInput,
  'migrate-vectors': migrateVectors,
  'database-check': databaseCheck,
  'database-report': databaseReport,
  // The hold for an operator (every procedure): what the environment was left in, as observed.
  'observe-hold': observeHold,
  // Every notification: the subject and plain-text body people read, the notice as JSON for machines.
  'compose-notice': composeNotice,
  // The change journal: EventBridge rules on ECS deployments and Parameter Store changes.
  journal,
  // Any change rolled back: code-rollback and config-rollback to the last known good.
  'rollback-input': rollbackInput,
  'rollback-plan': rollbackPlan,
  'rollback-apply': rollbackApply,
  // Rollback drills through the real detection path.
  'drill-input': drillInput,
  drill,
} as const;

export type StepName = keyof typeof STEPS;
export const STEP_NAMES = Object.keys(STEPS) as StepName[];

/** `check-health` -> `CheckHealthFunctionArn`, the placeholder an ASL Task uses as its Resource. */
export function functionPlaceholder(step: StepName): string {
  return placeholderOf(step);
}
