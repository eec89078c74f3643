import { Stack } from 'aws-cdk-lib';
import { type CfnRole, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ParameterTier } from 'aws-cdk-lib/aws-ssm';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { FLAG_NAMES, type FlagName, flagParameterName, parseFlagValue } from '../functions/shared/flags';

/** What a grantee may do with a flag. */
export type FlagAccess = 'read' | 'read-write';

/** Construct id of the CDK's singleton function behind every `AwsCustomResource` (its UUID). */
const AWS_CUSTOM_RESOURCE_FUNCTION_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

/** CloudFormation type of a flag's resource (one per flag). */
export const FLAG_RESOURCE_TYPE = 'Custom::SwitchbackFlag';

export interface FlagsProps {
  /** SSM path the flags live under, e.g. `/switchback/prod` (see `parameterPrefix(stage)`). */
  readonly prefix: string;
  /**
   * The value each flag gets when its parameter does not exist yet. Every flag in `FLAG_NAMES`
   * needs one, and each is validated against the flag's schema at synth.
   */
  readonly initialValues: Readonly<Record<FlagName, string>>;
  /** Retention of the log group of the function that creates them. */
  readonly logRetention: RetentionDays;
}

/**
 * One SSM String parameter per Switchback flag (`FLAG_NAMES`), under the stage's prefix.
 *
 * Operators and the step functions change these values at run time, so a deploy must never write
 * them back. An `AWS::SSM::Parameter` cannot promise that: CloudFormation writes its `Value` on
 * every update of the resource, so a changed `cdk.json` (a new `sidecarBaseUrl`) would silently
 * undo a cutover. Each flag is therefore an `AwsCustomResource` with an `onCreate` call only:
 * `PutParameter` with `Overwrite: false` when the resource is first created, a parameter that
 * exists already keeping its value (`ParameterAlreadyExists` ignored), and no call at all on update
 * or delete. A later deploy with a changed initial value updates the resource's properties and
 * writes nothing; a deleted stack leaves the live flags in place (as it leaves its backups).
 */
export class Flags extends Construct {
  /** The resources that create the parameters, by flag name. */
  public readonly resources: Readonly<Record<FlagName, AwsCustomResource>>;
  /** The prefix the parameters live under. */
  public readonly prefix: string;

  constructor(scope: Construct, id: string, props: FlagsProps) {
    super(scope, id);
    this.prefix = props.prefix;
    const resources = {} as Record<FlagName, AwsCustomResource>;
    // The one function behind every AwsCustomResource of the stack logs here (the first resource's
    // log group is the singleton's).
    const logGroup = new LogGroup(this, 'CreatorLogs', { retention: props.logRetention });
    for (const name of FLAG_NAMES) {
      const initial = props.initialValues[name];
      if (initial === undefined) throw new Error(`Flags: no initial value for flag "${name}"`);
      const parameterName = flagParameterName(props.prefix, name);
      resources[name] = new AwsCustomResource(this, name, {
        resourceType: FLAG_RESOURCE_TYPE,
        installLatestAwsSdk: false,
        logGroup,
        onCreate: {
          service: 'SSM',
          action: 'PutParameter',
          parameters: {
            Name: parameterName,
            Value: parseFlagValue(name, initial),
            Type: 'String',
            Tier: ParameterTier.STANDARD,
            Description: `Switchback flag ${name}. Initial value only: changed at run time by operators and procedures.`,
            Overwrite: false,
          },
          physicalResourceId: PhysicalResourceId.of(parameterName),
          ignoreErrorCodesMatching: '^ParameterAlreadyExists$',
        },
        policy: AwsCustomResourcePolicy.fromStatements([
          new PolicyStatement({ actions: ['ssm:PutParameter'], resources: [this.parameterArn(name)] }),
        ]),
      });
    }
    this.resources = resources;
    // The stack's roles carry no managed policy: the basic execution policy of the CDK's function
    // is replaced by a grant to write its own log group, nothing else.
    const creator = Stack.of(this).node.tryFindChild(AWS_CUSTOM_RESOURCE_FUNCTION_ID) as
      | LambdaFunction
      | undefined;
    const role = creator?.role;
    if (!role) throw new Error('Flags: the AwsCustomResource function is not where the CDK puts it');
    (role.node.defaultChild as CfnRole).managedPolicyArns = undefined;
    logGroup.grantWrite(role);
  }

  /** The parameter name of one flag. */
  parameterName(name: FlagName): string {
    return flagParameterName(this.prefix, name);
  }

  /** The parameter ARN of one flag, built from its literal name (the template shows it). */
  parameterArn(name: FlagName): string {
    return Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: this.parameterName(name).slice(1),
    });
  }

  /**
   * Grants `ssm:GetParameter` (and `ssm:PutParameter` for `read-write`) on exactly the named flags'
   * parameter ARNs. No path wildcards: a grantee can never touch a flag it was not given.
   */
  grant(grantee: IGrantable, names: readonly FlagName[], access: FlagAccess): void {
    if (names.length === 0) throw new Error('Flags.grant: name at least one flag');
    const unknown = names.filter((n) => !FLAG_NAMES.includes(n));
    if (unknown.length) throw new Error(`Flags.grant: unknown flags ${unknown.join(', ')}`);
    const resources = [...new Set(names)].map((n) => this.parameterArn(n));
    const actions = access === 'read-write' ? ['ssm:GetParameter', 'ssm:PutParameter'] : ['ssm:GetParameter'];
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions, resources }));
  }
}
