import { changeRecord } from './change-record/change-record';
import { checkHealth } from './check-health/check-health';
import { checkStable } from './check-stable/check-stable';
import { restartService } from './restart-service/restart-service';
import { setFlags } from './set-flags/set-flags';
import { smokeTest } from './smoke-test/smoke-test';
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
} as const;

export type StepName = keyof typeof STEPS;
export const STEP_NAMES = Object.keys(STEPS) as StepName[];

/** `check-health` -> `CheckHealthFunctionArn`, the placeholder an ASL Task uses as its Resource. */
export function functionPlaceholder(step: StepName): string {
  return `${step.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase())}FunctionArn`;
}
