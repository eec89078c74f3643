import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FLAG_NAMES, flagParameterName } from '../functions/shared/flags';
import { assertReady } from './config/readiness';
import { parameterPrefix, parseStages, type StageConfig, StageConfigError } from './config/stage';
import { FEATURE_FLAGS } from './defaults';
import { PROCEDURES, procedureParameterName, SwitchbackStack } from './switchback-stack';

export interface BuildAppOptions {
  /**
   * Cloud assembly directory.
   * @default - the CDK default (`cdk.out`, or the CLI's choice)
   */
  readonly outdir?: string;
  /**
   * Skip asset bundling (template-only tests): sets `aws:cdk:bundling-stacks` to `[]`.
   * @default false
   */
  readonly skipBundling?: boolean;
  /**
   * Register cdk-nag's AwsSolutionsChecks as a validation plugin (synth fails on a finding).
   * Tests that call `pack.validateScope` themselves turn this off.
   * @default true
   */
  readonly nag?: boolean;
  /**
   * Run CDK's built-in CloudFormation template validation at synth (cfn-guard rules; ~3 s).
   * @default true
   */
  readonly cfnValidation?: boolean;
}

export interface SwitchbackApp {
  readonly app: App;
  readonly stages: readonly StageConfig[];
  readonly stacks: readonly SwitchbackStack[];
}

/** Name of the stack of one stage. */
export function stackName(stage: Pick<StageConfig, 'name'>): string {
  return `Switchback-${stage.name}`;
}

/**
 * Builds the CDK app: validates `context.switchback` (a bad stage fails here, naming the field),
 * then one `Switchback-<name>` stack per stage. `context` is app context; `cdk.json` and the CLI
 * take precedence over it.
 */
export function buildApp(
  context: Record<string, unknown> = {},
  options: BuildAppOptions = {},
): SwitchbackApp {
  const app = new App({
    ...(options.outdir ? { outdir: options.outdir } : {}),
    builtinCloudFormationValidation: options.cfnValidation ?? true,
    context: {
      ...FEATURE_FLAGS,
      ...context,
      ...(options.skipBundling ? { 'aws:cdk:bundling-stacks': [] } : {}),
    },
  });
  const stages = parseStages(app.node.tryGetContext('switchback'));
  assertNoSharedNames(stages);
  // What would only fail after deploy (private endpoints without a network, no backups, timeouts
  // that do not nest, alarms without their metrics) fails here, naming the field.
  assertReady(stages);
  const stacks = stages.map((stage) => {
    const stack = new SwitchbackStack(app, stackName(stage), {
      stage,
      description: `Switchback (${stage.name}): cutover and rollback procedures for the memory stack`,
      ...(stage.account || stage.region ? { env: { account: stage.account, region: stage.region } } : {}),
    });
    Tags.of(stack).add('switchback:environment', stage.name);
    return stack;
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stages, stacks };
}

/** Stages must not share SSM parameter names (two stages in one account would overwrite each other). */
function assertNoSharedNames(stages: readonly StageConfig[]): void {
  const owner = new Map<string, string>();
  for (const stage of stages) {
    const names = [
      ...FLAG_NAMES.map((f) => flagParameterName(parameterPrefix(stage), f)),
      ...PROCEDURES.map((p) => procedureParameterName(stage, p)),
    ];
    for (const name of names) {
      const other = owner.get(name);
      if (other) {
        throw new StageConfigError(
          `Invalid Switchback stages: "${stage.name}" and "${other}" would both own SSM parameter ${name} (check parameterPrefix)`,
        );
      }
      owner.set(name, stage.name);
    }
  }
}
