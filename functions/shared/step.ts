import type { z } from 'zod';
import type { AlarmCatalog } from './alarm-catalog';
import type { RuntimeConfig } from './config';
import { parseOrThrow } from './config';
import { InvalidInputError } from './errors';
import type { JournalStore } from './journal';
import type {
  AlarmControl,
  AlarmHistorySource,
  BlobStore,
  Clock,
  DeploymentHistory,
  FlagStore,
  HttpFetch,
  Log,
  MetricsSink,
  MetricsSource,
  ParameterHistory,
  SecretStore,
  ServiceController,
  StreamStore,
  WatchedParameterStore,
} from './ports';
import type { DatabaseConnector } from './vector-stores';

/** Everything a step may depend on. Each step names the subset it uses. */
export interface Deps {
  readonly config: RuntimeConfig;
  readonly flags: FlagStore;
  readonly secrets: SecretStore;
  readonly services: ServiceController;
  readonly blobs: BlobStore;
  /** Large objects (backups), streamed. */
  readonly objects: StreamStore;
  readonly fetch: HttpFetch;
  readonly clock: Clock;
  readonly log: Log;
  /** Where a step publishes metrics; only the functions that publish are given one. */
  readonly metrics?: MetricsSink;
  /** The alarms that may start a rollback; only the rollback router's steps are given it. */
  readonly alarms?: AlarmCatalog;
  /** Where rollout gates read health; only the gate evaluation step is given one. */
  readonly metricsSource?: MetricsSource;
  /** Qdrant and PostgreSQL (database cutover steps); URLs and keys are resolved by the step itself. */
  readonly databases?: DatabaseConnector;
  /** The change journal (only when the environment has one configured). */
  readonly journal?: JournalStore;
  /** ECS deployment history and SSM parameter history: how the journal resolves an event. */
  readonly deployments?: DeploymentHistory;
  readonly parameterHistory?: ParameterHistory;
  /** The app's watched parameters (config rollback; journal configured only). */
  readonly watched?: WatchedParameterStore;
  /** The rollback alarms' history (last known good; journal configured only). */
  readonly alarmHistory?: AlarmHistorySource;
  /** Sets a rollback alarm's state (the drill step only). */
  readonly alarmControl?: AlarmControl;
}

/**
 * A step: a zod input schema and a pure `run(input, deps)`. The Lambda handler and the
 * local rehearsal both call `invokeStep`, so validation and behaviour are identical.
 */
export interface Step<S extends z.ZodType, R> {
  readonly name: string;
  readonly input: S;
  run(input: z.infer<S>, deps: Deps): Promise<R>;
}

export function defineStep<S extends z.ZodType, R>(step: Step<S, R>): Step<S, R> {
  return step;
}

export async function invokeStep<S extends z.ZodType, R>(
  step: Step<S, R>,
  raw: unknown,
  deps: Deps,
): Promise<R> {
  const input = parseOrThrow(step.input, raw, InvalidInputError, `input for step ${step.name}`);
  return step.run(input, deps);
}
