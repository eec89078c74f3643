#!/usr/bin/env -S npx tsx
import { Command, Option } from 'commander';
import { approve } from '../cli/approve';
import { listBackupsCommand, showStatus, startExecution, unlock } from '../cli/aws';
import { rehearse } from '../local/rehearse';

// The CLI and the rehearsal may run on Node.js 20; the deployed functions run on Node.js 24.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const program = new Command()
  .name('switchback')
  .description('Run, rehearse and inspect Switchback cutover and rollback procedures')
  .showHelpAfterError();

program
  .command('rehearse')
  .description('Run a procedure locally against a freshly started reference memory stack (no AWS account)')
  .argument(
    '<procedure>',
    'provider-cutover | provider-rollback | feature-rollout | feature-disable | rollback-router | database-cutover | database-rollback',
  )
  .option('--fail-at <state>', 'make this state fail, to watch the automatic rollback')
  .option(
    '--fail-once-at <state>',
    "make this state fail once with its integration's transient error, to watch its Retry absorb it",
  )
  .option('--input <json>', 'execution input (JSON); a sensible default otherwise')
  .option('--dir <path>', 'folder for the run state (default: .rehearsal/<timestamp>)')
  .option('--no-color', 'plain output')
  .option(
    '--error-spike-at <phase>',
    'feature-rollout: the gate sees a 5 % error rate from this phase on (1-4), to watch the automatic rollback',
    (v) => Number.parseInt(v, 10),
  )
  .action(
    async (
      procedure: string,
      opts: {
        failAt?: string;
        failOnceAt?: string;
        input?: string;
        dir?: string;
        color: boolean;
        errorSpikeAt?: number;
      },
    ) => {
      const result = await rehearse({
        procedure,
        failAt: opts.failAt,
        failOnceAt: opts.failOnceAt,
        errorSpikeAtPhase: opts.errorSpikeAt,
        input: opts.input === undefined ? undefined : parseJson(opts.input, '--input'),
        dir: opts.dir,
        color: opts.color && process.stdout.isTTY === true,
        write: (line) => process.stdout.write(`${line}\n`),
      });
      const expected =
        result.execution.status === 'SUCCEEDED' ||
        ((opts.failAt !== undefined || opts.errorSpikeAt !== undefined) && result.outcome === 'rolled-back');
      process.exitCode = expected ? 0 : 1;
    },
  );

const envOption = new Option('--env <name>', 'environment (stage) name').makeOptionMandatory();

program
  .command('start')
  .description(
    'Start a procedure on AWS (the state machine ARN is read from /switchback/<env>/procedures/<name>)',
  )
  .argument('<procedure>', 'e.g. provider-cutover, provider-rollback')
  .addOption(envOption)
  .requiredOption('--input <json>', 'execution input (JSON), e.g. \'{"reason":"..."}\'')
  .option('--name <name>', 'execution name (idempotency: the same name cannot start twice)')
  .option('--wait', 'wait until the execution ends and print its outcome')
  .action(async (procedure: string, opts: { env: string; input: string; name?: string; wait?: boolean }) => {
    process.exitCode = await startExecution({
      procedure,
      env: opts.env,
      input: parseJson(opts.input, '--input'),
      name: opts.name,
      wait: opts.wait ?? false,
      write: console.log,
    });
  });

program
  .command('status')
  .description("Show an environment's flags and lock on AWS")
  .addOption(envOption)
  .action(async (opts: { env: string }) => {
    process.exitCode = await showStatus({ env: opts.env, write: console.log });
  });

program
  .command('backups')
  .description('List the backups of a database on AWS, newest first, verified or not')
  .addOption(envOption)
  .addOption(
    new Option('--store <store>', 'postgres | sqlite').choices(['postgres', 'sqlite']).makeOptionMandatory(),
  )
  .requiredOption('--database <name>', 'database name as configured in the stage')
  .option('--limit <n>', 'how many', '20')
  .action(async (opts: { env: string; store: 'postgres' | 'sqlite'; database: string; limit: string }) => {
    process.exitCode = await listBackupsCommand({
      env: opts.env,
      store: opts.store,
      database: opts.database,
      limit: Number(opts.limit) || 20,
      write: console.log,
    });
  });

program
  .command('unlock')
  .description('Release a lock held for an operator (after a rollback could not verify), naming its owner')
  .addOption(envOption)
  .requiredOption('--owner <executionArn>', 'the execution ARN that holds the lock (see `switchback status`)')
  .action(async (opts: { env: string; owner: string }) => {
    process.exitCode = await unlock({ env: opts.env, owner: opts.owner, write: console.log });
  });

program
  .command('approve')
  .description('Approve (or reject) the next phase of a feature rollout waiting between phases')
  .addOption(envOption)
  .option('--execution <arn>', 'the feature-rollout execution (default: the one running in the environment)')
  .option('--reject', 'reject: the rollout rolls back and the feature is disabled')
  .option('--comment <text>', 'recorded in the rollout log')
  .option('--by <name>', 'who approves, recorded in the rollout log', process.env.USER)
  .action(
    async (opts: { env: string; execution?: string; reject?: boolean; comment?: string; by?: string }) => {
      process.exitCode = await approve({ ...opts, write: console.log });
    },
  );

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    program.error(`${what} is not valid JSON`);
  }
}

program.parseAsync().catch((err: Error) => {
  console.error(`switchback: ${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`);
  process.exitCode = 2;
});
