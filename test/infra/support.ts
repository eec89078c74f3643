import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, type Stack, Token } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { CfnPolicy, IRole } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import type { StepName } from '../../functions';
import { type BuildAppOptions, buildApp, type SwitchbackApp } from '../../lib/app';
import { VPC_ENI_ACTIONS } from '../../lib/house-function';
import { flattenForNag } from '../../lib/nag';
import type { SwitchbackStack } from '../../lib/switchback-stack';

/** The stages in cdk.json (staging and prod). */
export function cdkJsonStages(): unknown[] {
  const cdk = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8'));
  return cdk.context.switchback.stages;
}

/** The network of the test stage: its endpoints are private, so its calling steps run in it. */
export const TEST_NETWORK = {
  vpcId: 'vpc-0aaa',
  availabilityZones: ['eu-west-1a'],
  subnetIds: ['subnet-0aaa'],
  securityGroupIds: ['sg-0aaa'],
};

/**
 * A valid, ready stage, for tests that vary one field: private endpoints in its network, and no
 * data (so it says why it takes no backups) unless the overrides give one.
 */
export function stage(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'test',
    services: { cluster: 'memory-test', api: 'memory-api', sidecar: 'memory-sidecar' },
    endpoints: {
      apiBaseUrl: 'http://api.test.internal:13370',
      sidecarBaseUrl: 'http://sidecar.test.internal:7070',
    },
    secrets: { sidecarApiKeyParameter: '/memory/test/sidecar-api-key' },
    network: TEST_NETWORK,
    ...(overrides.data ? {} : { backups: { none: 'a test stage: nothing in it to back up' } }),
    ...overrides,
  };
}

export interface Synth extends SwitchbackApp {
  /** Removes the temporary cloud assembly directory. */
  cleanup(): void;
}

/** Builds the app template-only (no bundling, no CloudFormation validation) in a temp outdir. */
export function synthApp(stages: unknown[], options: BuildAppOptions = {}): Synth {
  const outdir = mkdtempSync(join(tmpdir(), 'switchback-infra-'));
  const cleanup = () => rmSync(outdir, { recursive: true, force: true });
  try {
    const built = buildApp(
      { switchback: { stages } },
      { skipBundling: true, cfnValidation: false, nag: false, ...options, outdir },
    );
    return { ...built, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/**
 * The definition a state machine resource deploys: the S3 asset its `DefinitionS3Location` names,
 * read from the synthesized output (`asset.<hash>.json`).
 */
export function deployedDefinition(synth: Synth, resource: { Properties: Record<string, unknown> }): string {
  const location = resource.Properties.DefinitionS3Location as { Key: string } | undefined;
  if (!location) throw new Error('the state machine has no DefinitionS3Location');
  const hash = location.Key.replace(/\.json$/, '');
  return readFileSync(join(synth.app.outdir, `asset.${hash}.json`), 'utf8');
}

/** A bare App for construct-level tests: no bundling, no CloudFormation validation, temp outdir. */
export function scratchApp(): { app: App; cleanup: () => void } {
  const outdir = mkdtempSync(join(tmpdir(), 'switchback-infra-'));
  const app = new App({
    outdir,
    builtinCloudFormationValidation: false,
    context: { 'aws:cdk:bundling-stacks': [] },
  });
  return { app, cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
}

export interface FlatStatement {
  readonly effect: string;
  readonly actions: string[];
  readonly resources: string[];
  readonly condition?: unknown;
}

/** A readable form of any CloudFormation value (as cdk-nag names it): `<Logical.Arn>/key/*`. */
export function flat(stack: Stack, value: unknown): string {
  return flattenForNag(Token.isUnresolved(value) ? stack.resolve(value) : value);
}

const toArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The statements of a role's default policy, with actions and resources flattened to strings. */
export function roleStatements(stack: Stack, role: IRole): FlatStatement[] {
  const policy = role.node.tryFindChild('DefaultPolicy');
  if (!policy) return [];
  const cfn = policy.node.defaultChild as CfnPolicy;
  const doc = stack.resolve(cfn.policyDocument) as { Statement: Record<string, unknown>[] };
  return doc.Statement.map((s) => ({
    effect: s.Effect as string,
    actions: toArray(s.Action as string | string[]),
    resources: toArray(s.Resource).map((r) => flat(stack, r)),
    ...(s.Condition ? { condition: s.Condition } : {}),
  }));
}

/** Every (action, resource) pair a role is allowed, as `action on resource`. */
export function grantPairs(statements: readonly FlatStatement[]): string[] {
  return statements
    .filter((s) => s.effect === 'Allow')
    .flatMap((s) => s.actions.flatMap((a) => s.resources.map((r) => `${a} on ${r}`)))
    .sort();
}

/** Every IAM policy statement in a synthesized template (inline role policies and AWS::IAM::Policy). */
export function allIamStatements(template: Template): { id: string; statement: Record<string, unknown> }[] {
  const out: { id: string; statement: Record<string, unknown> }[] = [];
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      const doc = r.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] };
      for (const statement of doc.Statement) out.push({ id, statement });
    }
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of (r.Properties?.Policies as {
        PolicyDocument: { Statement: Record<string, unknown>[] };
      }[]) ?? []) {
        for (const statement of p.PolicyDocument.Statement) out.push({ id, statement });
      }
    }
  }
  return out;
}

/** The synthesized resource of a construct (its default child), from the template. */
export function resourceOf(
  template: Template,
  stack: Stack,
  construct: IConstruct,
): { Type: string; Properties: Record<string, unknown>; [k: string]: unknown } {
  const cfn = construct.node.defaultChild as CfnElement | undefined;
  if (!cfn) throw new Error(`${construct.node.path} has no default child`);
  const id = stack.resolve(cfn.logicalId) as string;
  const resource = (template.toJSON().Resources as Record<string, never>)[id];
  if (!resource) throw new Error(`${id} is not in the template`);
  return resource;
}

export { toArray };

/**
 * What every step role has: its own log group, and X-Ray (which only supports "*"); a step that
 * calls the endpoints runs in the stage's network, so it also manages its network interfaces.
 */
export function stepBaseline(stack: SwitchbackStack, step: StepName): string[] {
  const logs = flat(stack, stack.functions[step].logGroup.logGroupArn);
  return [
    `logs:CreateLogStream on ${logs}`,
    `logs:PutLogEvents on ${logs}`,
    'xray:PutTelemetryRecords on *',
    'xray:PutTraceSegments on *',
    ...(inVpc(stack, step) ? VPC_ENI_ACTIONS.map((a) => `${a} on *`) : []),
  ];
}

/** Whether a step's function is attached to a VPC (its template has a VpcConfig). */
export function inVpc(stack: SwitchbackStack, step: StepName): boolean {
  return (stack.functions[step].function.node.defaultChild as CfnFunction).vpcConfig !== undefined;
}

/** A stage with every feature on: network, data (PostgreSQL and SQLite), the database cutover, monitoring. */
export function fullStage(name = 'full'): Record<string, unknown> {
  return stage({
    name,
    data: {
      postgres: {
        host: 'db.full.internal',
        user: 'switchback',
        passwordSecret: '/memory/full/pg',
        databases: ['memory'],
      },
      sqlite: {
        efs: { fileSystemId: 'fs-0aaa', accessPointId: 'fsap-0aaa', mountPath: '/mnt/memory' },
        databases: { sessions: 'sessions.db' },
      },
    },
    database: {
      connections: {
        legacy: { urlParameter: '/memory/full/legacy-url' },
        pooled: { urlParameter: '/memory/full/pooled-url' },
      },
      source: {
        connection: 'legacy',
        qdrant: {
          url: 'https://qdrant.full.internal:6333',
          collection: 'memory',
          apiKeyParameter: '/memory/full/qdrant',
        },
      },
      target: { connection: 'pooled' },
      backups: ['memory'],
    },
    notifications: { emails: ['oncall@example.com'] },
  });
}
