import { Stack } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IStringParameter, ParameterTier, StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { FLAG_NAMES, type FlagName, flagParameterName, parseFlagValue } from '../functions/shared/flags';

/** What a grantee may do with a flag. */
export type FlagAccess = 'read' | 'read-write';

export interface FlagsProps {
  /** SSM path the flags live under, e.g. `/switchback/prod` (see `parameterPrefix(stage)`). */
  readonly prefix: string;
  /**
   * The value each flag gets when the parameter is first created. Every flag in `FLAG_NAMES`
   * needs one, and each is validated against the flag's schema at synth.
   */
  readonly initialValues: Readonly<Record<FlagName, string>>;
}

/**
 * One SSM String parameter per Switchback flag (`FLAG_NAMES`), under the stage's prefix.
 *
 * Operators and the step functions change these values at run time. CloudFormation only sets
 * the initial value: **do not edit these parameters' properties in the template after the first
 * deploy** (description, tier, value), because a CloudFormation update of the resource writes the
 * template value back and would silently undo a cutover. Expect drift detection to report the
 * values as drifted; that is the flags working, not a fault.
 */
export class Flags extends Construct {
  /** The parameters, by flag name. */
  public readonly parameters: Readonly<Record<FlagName, IStringParameter>>;
  /** The prefix the parameters live under. */
  public readonly prefix: string;

  constructor(scope: Construct, id: string, props: FlagsProps) {
    super(scope, id);
    this.prefix = props.prefix;
    const parameters = {} as Record<FlagName, IStringParameter>;
    for (const name of FLAG_NAMES) {
      const initial = props.initialValues[name];
      if (initial === undefined) throw new Error(`Flags: no initial value for flag "${name}"`);
      parameters[name] = new StringParameter(this, name, {
        parameterName: flagParameterName(props.prefix, name),
        stringValue: parseFlagValue(name, initial),
        tier: ParameterTier.STANDARD,
        description: `Switchback flag ${name}. Initial value only: changed at run time by operators and procedures.`,
      });
    }
    this.parameters = parameters;
  }

  /** The parameter of one flag. */
  parameter(name: FlagName): IStringParameter {
    return this.parameters[name];
  }

  /**
   * Grants `ssm:GetParameter` (and `ssm:PutParameter` for `read-write`) on exactly the named flags'
   * parameter ARNs (built from the literal names, so the template shows them). No path wildcards:
   * a grantee can never touch a flag it was not given.
   */
  grant(grantee: IGrantable, names: readonly FlagName[], access: FlagAccess): void {
    if (names.length === 0) throw new Error('Flags.grant: name at least one flag');
    const unknown = names.filter((n) => !FLAG_NAMES.includes(n));
    if (unknown.length) throw new Error(`Flags.grant: unknown flags ${unknown.join(', ')}`);
    const stack = Stack.of(this);
    const resources = [...new Set(names)].map((n) =>
      stack.formatArn({
        service: 'ssm',
        resource: 'parameter',
        resourceName: flagParameterName(this.prefix, n).slice(1),
      }),
    );
    const actions = access === 'read-write' ? ['ssm:GetParameter', 'ssm:PutParameter'] : ['ssm:GetParameter'];
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions, resources }));
  }
}
