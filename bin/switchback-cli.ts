#!/usr/bin/env -S npx tsx
import { Command, Option } from 'commander';
import { approve } from '../cli/approve';
import { listBackupsCommand, listDrills, showHistory, showStatus, startExecution, unlock } from '../cli/aws';
import { configCheck } from '../cli/config-check';
import { confirmed, registerOperatorCommands } from '../cli/operator-commands';
import { registerRehearse } from '../cli/rehearse-command';

// The CLI and the rehearsal may run on Node.js 20; the deployed functions run on Node.js 24.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const program = new Command()
  .name('switchback')
  .description('Run, rehearse and inspect Switchback cutover and rollback procedures')
  .showHelpAfterError();

registerRehearse(program);

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
  .option('--yes', 'do not ask before changing a production environment')
  .action(
    async (
      procedure: string,
      opts: { env: string; input: string; name?: string; wait?: boolean; yes?: boolean },
    ) => {
      process.exitCode = await startExecution({
        procedure,
        env: opts.env,
        input: parseJson(opts.input, '--input'),
        name: opts.name,
        wait: opts.wait ?? false,
        write: console.log,
        confirm: (what) => confirmed(opts.env, what, opts.yes),
      });
    },
  );

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
  .command('drills')
  .description(
    "List an environment's recent rollback drills on AWS, newest first: each phase against seed 004's target, and the trend",
  )
  .addOption(envOption)
  .option('--limit <n>', 'how many', '20')
  .action(async (opts: { env: string; limit: string }) => {
    process.exitCode = await listDrills({
      env: opts.env,
      limit: Number(opts.limit) || 20,
      write: console.log,
    });
  });

program
  .command('history')
  .description(
    "List an environment's change journal on AWS, newest first: every deploy, parameter change and Switchback change",
  )
  .addOption(envOption)
  .option('--since <time>', 'only entries at or after this ISO 8601 time')
  .option('--limit <n>', 'how many', '50')
  .action(async (opts: { env: string; since?: string; limit: string }) => {
    const since = opts.since ? new Date(opts.since) : undefined;
    if (since && Number.isNaN(since.getTime()))
      program.error(`--since ${opts.since} is not an ISO 8601 time`);
    process.exitCode = await showHistory({
      env: opts.env,
      ...(since ? { since } : {}),
      limit: Number(opts.limit) || 50,
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

registerOperatorCommands(program);

program
  .command('config')
  .description('Stage configuration (cdk.json)')
  .command('check')
  .description(
    'Check the stages as synth does, in seconds and without bundling: every problem that would only fail after deploy, with its field',
  )
  .option('--env <name>', 'only this stage')
  .option('--file <path>', "the cdk.json to read (default: the repository's)")
  .action((opts: { env?: string; file?: string }) => {
    process.exitCode = configCheck({ ...opts, write: console.log });
  });

/** An execution input: a JSON object, nothing else (`null` would silently become the default input). */
function parseJson(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    program.error(`${what} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    program.error(
      `${what} must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  return value as Record<string, unknown>;
}

program.parseAsync().catch((err: Error) => {
  console.error(`switchback: ${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`);
  process.exitCode = 2;
});
