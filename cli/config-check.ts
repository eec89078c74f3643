import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readinessProblems } from '../lib/config/readiness';
import { parseStages, StageConfigError } from '../lib/config/stage';

/** The repository's cdk.json, resolved from this file. */
export const CDK_JSON = join(__dirname, '..', 'cdk.json');

export interface ConfigCheckOptions {
  /** Only this stage. @default - every stage */
  readonly env?: string;
  /** @default - the repository's cdk.json */
  readonly file?: string;
  readonly write: (line: string) => void;
}

/**
 * `switchback config check`: validates the stages in cdk.json and runs the readiness check synth
 * runs (no bundling, no CloudFormation), printing every problem with its stage and field.
 * Exit code 0 when every checked stage is ready, 1 otherwise.
 */
export function configCheck(o: ConfigCheckOptions): number {
  const file = o.file ?? CDK_JSON;
  let context: unknown;
  try {
    context = (JSON.parse(readFileSync(file, 'utf8')) as { context?: { switchback?: unknown } }).context
      ?.switchback;
  } catch (err) {
    o.write(`config check: cannot read ${file}: ${(err as Error).message}`);
    return 1;
  }
  let stages: ReturnType<typeof parseStages>;
  try {
    stages = parseStages(context);
  } catch (err) {
    if (!(err instanceof StageConfigError)) throw err;
    o.write(`config check: ${err.message}`);
    return 1;
  }
  const chosen = o.env ? stages.filter((s) => s.name === o.env) : stages;
  if (o.env && !chosen.length) {
    o.write(`config check: no stage "${o.env}" in ${file} (stages: ${stages.map((s) => s.name).join(', ')})`);
    return 1;
  }
  let failed = 0;
  for (const stage of chosen) {
    const problems = readinessProblems(stage);
    if (!problems.length) {
      o.write(`${stage.name}: ready`);
      continue;
    }
    failed++;
    o.write(`${stage.name}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
    for (const p of problems) o.write(`  ${p.field}: ${p.message}`);
  }
  return failed ? 1 : 0;
}
