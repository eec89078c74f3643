import { backupCatalog } from './backup-catalog/backup-catalog';
import { changeRecord } from './change-record/change-record';
import { checkHealth } from './check-health/check-health';
import { checkStable } from './check-stable/check-stable';
import { dataResult } from './data-result/data-result';
import { healthProbe } from './health-probe/health-probe';
import { incidentReport } from './incident-report/incident-report';
import { planResponse } from './plan-response/plan-response';
import { restartService } from './restart-service/restart-service';
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
} as const;

export type StepName = keyof typeof STEPS;
export const STEP_NAMES = Object.keys(STEPS) as StepName[];

/** `check-health` -> `CheckHealthFunctionArn`, the placeholder an ASL Task uses as its Resource. */
export function functionPlaceholder(step: StepName): string {
  return `${step.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase())}FunctionArn`;
}
