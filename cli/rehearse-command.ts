import { type Command, InvalidArgumentError } from 'commander';
import { EXIT } from '../local/rehearsal-checks';
import { REHEARSABLE, rehearse } from '../local/rehearse';
import { useColor } from './palette';

/** A whole number from `min` on, or commander's named error for the option. */
export function positiveInteger(min: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < min)
      throw new InvalidArgumentError(`expected a whole number from ${min} on, got "${value}"`);
    return Number(value);
  };
}

/** What a stop request maps to: the exit code of an interrupted rehearsal. */
const STOP_CODES: Record<string, number> = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated, EPIPE: 141 };

/**
 * `switchback rehearse <procedure>`: every procedure of the registry but the lock janitor. On
 * SIGINT, SIGTERM or a closed pipe (`| head`) it stops the executions, writes a partial report and
 * ends the processes it started; the exit code says whether the run ended as designed.
 */
export function registerRehearse(program: Command): void {
  program
    .command('rehearse')
    .description('Run a procedure locally against a freshly started reference memory stack (no AWS account)')
    .argument('<procedure>', REHEARSABLE.join(' | '))
    .option('--fail-at <state>', 'make this Task state fail, to watch the automatic rollback')
    .option(
      '--fail-once-at <state>',
      "make this Task state fail once with its integration's transient error, to watch its Retry absorb it",
    )
    .option('--input <json>', 'execution input (JSON); a sensible default otherwise')
    .option('--dir <path>', 'folder for the run state (default: .rehearsal/<timestamp>)')
    .option(
      '--keep <n>',
      'how many .rehearsal/ folders to keep (older ones are removed)',
      positiveInteger(1),
      10,
    )
    .option('--no-color', 'plain output (NO_COLOR is honoured too; FORCE_COLOR forces colour)')
    .option(
      '--error-spike-at <phase>',
      'feature-rollout: the gate sees a 5 % error rate from this phase on (1-4), to watch the automatic rollback',
      positiveInteger(1),
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 the procedure ended as designed for the run (including a rollback that --fail-at\nasked for), 1 it did not, 2 a bad option (nothing started), 130/143 interrupted by SIGINT/SIGTERM\n(a partial report is written). A wrong --fail-at lists the states that can fail.',
    )
    // A bad option is a usage error (2), before anything has started; help is not an error.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT.usage))
    .action(
      async (
        procedure: string,
        opts: {
          failAt?: string;
          failOnceAt?: string;
          input?: string;
          dir?: string;
          keep: number;
          color: boolean;
          errorSpikeAt?: number;
        },
      ) => {
        const stop = new AbortController();
        let broken = false;
        let reason: string | undefined;
        const onStop = (why: string) => () => {
          reason ??= why;
          stop.abort();
        };
        const onSigint = onStop('SIGINT');
        const onSigterm = onStop('SIGTERM');
        const onStdoutError = (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EPIPE') throw err;
          broken = true;
          onStop('EPIPE')();
        };
        process.once('SIGINT', onSigint);
        process.once('SIGTERM', onSigterm);
        process.stdout.on('error', onStdoutError);
        let input: unknown;
        if (opts.input !== undefined) {
          try {
            input = JSON.parse(opts.input);
          } catch {
            program.error('--input is not valid JSON', { exitCode: EXIT.usage });
          }
          // `null` (or any non-object) would otherwise be replaced by the default input and run.
          if (typeof input !== 'object' || input === null || Array.isArray(input)) {
            program.error('--input must be a JSON object', { exitCode: EXIT.usage });
          }
        }
        try {
          const result = await rehearse({
            procedure,
            failAt: opts.failAt,
            failOnceAt: opts.failOnceAt,
            errorSpikeAtPhase: opts.errorSpikeAt,
            input,
            dir: opts.dir,
            keep: opts.keep,
            color: useColor({ flag: opts.color, isTTY: process.stdout.isTTY }),
            signal: stop.signal,
            write: (line) => {
              if (!broken) process.stdout.write(`${line}\n`);
            },
          });
          process.exitCode = reason ? (STOP_CODES[reason] ?? EXIT.interrupted) : result.verdict.exitCode;
        } finally {
          process.off('SIGINT', onSigint);
          process.off('SIGTERM', onSigterm);
        }
      },
    );
}
