import { createInterface } from 'node:readline/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type Command, Option } from 'commander';
import {
  abort,
  describeExecution,
  listExecutions,
  type OperatorClients,
  OperatorCommandError,
  setPaused,
  watch,
} from './operator';
import { useColor } from './palette';
import { positiveInteger } from './rehearse-command';

interface Common {
  env: string;
  region?: string;
  profile?: string;
  output: 'text' | 'json';
  color: boolean;
}

/** SDK clients for `--region` / `--profile`, else the standard chain (AWS_REGION, AWS_PROFILE...). */
export function clientsFor(o: { region?: string; profile?: string }): OperatorClients {
  const config = { ...(o.region ? { region: o.region } : {}), ...(o.profile ? { profile: o.profile } : {}) };
  return { ssm: new SSMClient(config), sfn: new SFNClient(config), dynamodb: new DynamoDBClient(config) };
}

/** An AWS error as what to do about it. */
export function explain(err: Error): string {
  if (err.name === 'CredentialsProviderError' || /Could not load credentials/.test(err.message))
    return 'No AWS credentials: pass --profile <name>, set AWS_PROFILE, or run `aws sso login` first.';
  if (/Region is missing/i.test(err.message)) return 'No AWS region: pass --region <name> or set AWS_REGION.';
  if (err.name === 'ExecutionDoesNotExist')
    return `${err.message}: check the ARN, and that --region is the execution's region.`;
  if (err.name === 'AccessDeniedException' || err.name === 'AccessDenied')
    return `${err.message}: these credentials may not do this; use an operator role of the Switchback stack.`;
  return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`;
}

/** Asks before changing a production environment unless `--yes`; a non-interactive run must say `--yes`. */
export async function confirmed(env: string, what: string, yes: boolean | undefined): Promise<boolean> {
  if (yes || !/prod/i.test(env)) return true;
  if (!process.stdin.isTTY) {
    console.error(`${what} in ${env}: pass --yes to confirm (no terminal to ask).`);
    return false;
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${what} in ${env}. Type the environment name to go on: `);
  rl.close();
  return answer.trim() === env;
}

/**
 * `watch`, `abort`, `pause`, `resume`, `describe` and `executions`: the operator's view of the
 * procedures on AWS. Each takes `--env`, `--region`, `--profile` and `--output json`.
 */
export function registerOperatorCommands(program: Command): void {
  const common = (cmd: Command) =>
    cmd
      .addOption(new Option('--env <name>', 'environment (stage) name').makeOptionMandatory())
      .option('--region <region>', 'AWS region (default: AWS_REGION / the profile)')
      .option('--profile <profile>', 'AWS profile (default: AWS_PROFILE)')
      .addOption(new Option('--output <format>', 'text or json').choices(['text', 'json']).default('text'))
      .option('--no-color', 'plain output (NO_COLOR is honoured too)');
  const run =
    <O extends Common>(f: (o: O, argument: string | undefined) => Promise<number>) =>
    // commander passes the positional argument (if the command has one), the options, the command.
    async (...args: unknown[]) => {
      const o = args.at(-2) as O;
      const argument = args.length > 2 ? (args[0] as string | undefined) : undefined;
      try {
        process.exitCode = await f(o, argument);
      } catch (err) {
        console.error(`switchback: ${explain(err as Error)}`);
        process.exitCode = err instanceof OperatorCommandError ? 1 : 2;
      }
    };
  const base = (o: Common) => ({
    env: o.env,
    clients: clientsFor(o),
    json: o.output === 'json',
    color: useColor({ flag: o.color, isTTY: process.stdout.isTTY }),
    write: (line: string) => console.log(line),
  });

  common(program.command('watch').argument('[execution]', 'execution ARN (default: the one running)'))
    .description(
      'Follow an execution live until it ends: each state with what it found, nested ones indented',
    )
    .option('--poll <seconds>', 'how often to read the history', positiveInteger(1), 5)
    .action(
      run(async (o: Common & { poll: number }, execution) => {
        return watch({ ...base(o), execution, pollMs: o.poll * 1000 });
      }),
    );

  common(
    program.command('abort').argument('[execution]', 'the cutover or rollout (default: the one running)'),
  )
    .description('Stop a cutover or rollout the safe way: its rollback runs from the change record, verified')
    .requiredOption('--reason <text>', 'why (recorded in the rollback and its notification)')
    .option('--by <name>', 'who aborts', process.env.USER ?? 'operator')
    .option('--yes', 'do not ask before changing a production environment')
    .option('--no-wait', 'start the rollback and return without watching it')
    .action(
      run(async (o: Common & { reason: string; by: string; yes?: boolean; wait: boolean }, execution) => {
        if (!(await confirmed(o.env, 'Abort the change in flight and roll it back', o.yes))) return 1;
        return abort({ ...base(o), execution, reason: o.reason, by: o.by, noWait: !o.wait });
      }),
    );

  for (const [name, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    common(program.command(name))
      .description(
        paused
          ? 'Kill switch on (automation/paused=true): rollback alarms only notify, nothing rolls back on its own'
          : 'Kill switch off (automation/paused=false): rollback alarms start rollbacks again',
      )
      .requiredOption('--reason <text>', 'why (kept in the parameter description and its history)')
      .option('--by <name>', 'who', process.env.USER ?? 'operator')
      .option('--yes', 'do not ask before changing a production environment')
      .action(
        run(async (o: Common & { reason: string; by: string; yes?: boolean }) => {
          if (!(await confirmed(o.env, paused ? 'Pause automation' : 'Resume automation', o.yes))) return 1;
          return setPaused({ ...base(o), paused, reason: o.reason, by: o.by });
        }),
      );
  }

  common(program.command('describe').argument('<execution>', 'execution ARN'))
    .description('One execution: status, times, input, the path it took and how it ended')
    .action(
      run(async (o: Common, execution) => {
        return describeExecution({ ...base(o), execution: execution as string });
      }),
    );

  common(program.command('executions'))
    .description("Recent executions of the environment's procedures, newest first")
    .option('--procedure <name>', 'only this procedure')
    .option('--limit <n>', 'how many', positiveInteger(1), 20)
    .action(
      run(async (o: Common & { procedure?: string; limit: number }) =>
        listExecutions({ ...base(o), procedure: o.procedure, limit: o.limit }),
      ),
    );
}
