/**
 * The stubbed world of the in-suite fault-injection sweep: no process is started. The engine runs
 * a generated definition with dynalite for the lock (real conditional writes), SNS to its outbox,
 * nested executions and the lock janitor as on AWS; every Lambda step, ECS data task and callback
 * task replays what it returned in a recorded real run (`local/sweep.ts`, `replaying`), except
 * the protocol's own three, which run for real on a small model of the environment:
 *
 * - `set-flags` writes the flags (an in-memory parameter store starting from the recorded run's
 *   flags), so maintenance, provider, database and the rollback's restore really change them;
 * - the API (a real HTTP server) serves `/health` from the flags as they were when the API was
 *   last (re)started by a replayed `restart-service` or `scale-service` of the api, as the
 *   reference API reads them at start; scaled to 0 it does not answer;
 * - `observe-hold` reads that flag and that API, so a hold's notice says what the model shows;
 * - `compose-notice` writes each notification's subject and body from this run's notice.
 *
 * The end of each run is judged by the end-state invariant (`local/invariant.ts`) over that model.
 */
import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { FlagName } from '../../functions/shared/flags';
import { LocalDynamo } from '../../local/adapters/lock-table';
import { RecordingLog } from '../../local/adapters/recording-log';
import { type ExecutionRecord, type Fault, LocalEngine } from '../../local/engine';
import {
  checkEndState,
  type FlagReading,
  notificationsOf,
  type Observed,
  type Verdict,
} from '../../local/invariant';
import { defaultInput } from '../../local/rehearse';
import { type Recording, replaying } from '../../local/sweep';
import { fakeDeps, MemoryFlagStore, sendJson, startServer, type TestServer, testConfig } from './fakes';

export const SWEEP_ENV = 'rehearsal';
/** What the recorded sidecar URL is replaced by: nothing is ever sent to it (its steps are replayed). */
export const SWEEP_SIDECAR = 'http://sidecar.rehearsal.internal:7070';

export interface StubbedRun {
  readonly execution: ExecutionRecord;
  readonly engine: LocalEngine;
  readonly observed: Observed;
  readonly before: Readonly<Record<string, FlagReading>>;
  /** Replayed Tasks that had no recorded result (the recording is stale: re-record it). */
  readonly unrecorded: readonly string[];
}

export class StubbedWorld {
  private served: Record<string, unknown> | undefined;
  private tableCreated = false;

  private constructor(
    private readonly dynamo: LocalDynamo,
    private readonly api: TestServer,
  ) {}

  static async start(): Promise<StubbedWorld> {
    const dynamo = await LocalDynamo.start();
    let world: StubbedWorld | undefined;
    const api = await startServer((req, res) => {
      const body = world?.served;
      if (req.path === '/health' && body) sendJson(res, 200, body);
      else sendJson(res, 503, { error: 'not running' });
    });
    world = new StubbedWorld(dynamo, api);
    return world;
  }

  /** The endpoints recordings are read with. */
  get endpoints() {
    return { api: this.api.url, sidecar: SWEEP_SIDECAR };
  }

  async close(): Promise<void> {
    await this.api.close();
    await this.dynamo.close();
  }

  /** One replayed run of `recording` with `faults`, on an empty lock table and the recorded flags. */
  async run(
    recording: Recording,
    faults: readonly Fault[],
    donors: readonly Recording[],
  ): Promise<StubbedRun> {
    const lockTable = `switchback-${SWEEP_ENV}-locks`;
    if (!this.tableCreated) await this.dynamo.createLockTable(lockTable);
    this.tableCreated = true;
    const { Items = [] } = await this.dynamo.client.send(new ScanCommand({ TableName: lockTable }));
    for (const item of Items)
      await this.dynamo.client.send(
        new DeleteItemCommand({ TableName: lockTable, Key: { pk: item.pk as never } }),
      );

    const flags = new MemoryFlagStore(recording.before as Partial<Record<FlagName, string>>);
    const readings = (): Record<string, FlagReading> =>
      Object.fromEntries(Object.entries(flags.snapshot()).sort(([a], [b]) => a.localeCompare(b)));
    const start = () => {
      const f = (n: FlagName) => flags.snapshot()[n]?.value;
      this.served = {
        status: 'ok',
        provider: f('memory/provider'),
        maintenance: f('maintenance-mode') === 'on',
        database: f('database/active'),
      };
    };
    start();
    const before = readings();
    const stubs = replaying(recording, SWEEP_ENV, {
      donors,
      live: ['set-flags', 'observe-hold', 'compose-notice'],
      onStep: (step, input) => {
        const i = input as { service?: string; services?: string[]; desiredCount?: number };
        if (step === 'restart-service' && i.service === 'api') start();
        if (step === 'scale-service' && i.services?.includes('api')) {
          if (i.desiredCount === 0) this.served = undefined;
          else start();
        }
      },
    });
    const engine = new LocalEngine({
      environment: SWEEP_ENV,
      deps: fakeDeps({
        config: testConfig({
          environment: SWEEP_ENV,
          endpoints: this.endpoints,
          timing: { httpTimeoutMs: 1_000 },
        }),
        flags,
      }),
      logs: new RecordingLog(),
      dynamo: this.dynamo,
      lockTable,
      faults,
      waitOverrideMs: 0,
      retryIntervalMs: 0,
      integrations: [stubs.integration],
      substitutions: {
        DataTaskClusterArn: `arn:aws:ecs:local-1:000000000000:cluster/local-${SWEEP_ENV}`,
        DataTaskDefinitionArn: `arn:aws:ecs:local-1:000000000000:task-definition/switchback-${SWEEP_ENV}-data-task:1`,
      },
    });
    const execution = await engine.run(recording.procedure, defaultInput(SWEEP_ENV, recording.procedure), {
      name: recording.execution,
    });
    const observed: Observed = {
      execution,
      lock: await this.dynamo.getLock(lockTable, SWEEP_ENV),
      flags: readings(),
      api: this.served,
      notifications: notificationsOf(engine, execution),
    };
    return { execution, engine, observed, before, unrecorded: stubs.unrecorded };
  }
}

/** The end-state invariant over a stubbed run, with the clean run's flags as `forward`. */
export function verdictOf(run: StubbedRun, forward?: Readonly<Record<string, string>>): Verdict {
  return checkEndState(run.observed, { before: run.before, ...(forward ? { forward } : {}) });
}
