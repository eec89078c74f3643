/**
 * Ports: the small interfaces step logic depends on. Lambda handlers wire AWS adapters
 * (`./adapters`); the local rehearsal and the tests wire local ones (`local/adapters`).
 */
import type { FlagName } from './flags';
import type { AlarmHistory } from './last-known-good';

export interface FlagValue {
  readonly value: string;
  /** Monotonic version of the parameter (SSM's `Version`). */
  readonly version: number;
}

export interface FlagStore {
  /** Throws FlagNotFoundError when the parameter does not exist. */
  get(name: FlagName): Promise<FlagValue>;
  /** Overwrites the value and returns the new version. */
  put(name: FlagName, value: string): Promise<FlagValue>;
}

export interface SecretStore {
  /** Resolves a secret by parameter name. The value must never leave the step that asked for it. */
  get(parameterName: string): Promise<string>;
}

export type ServiceKey = 'api' | 'sidecar';

export interface Deployment {
  readonly id: string;
  /** ECS: PRIMARY for the newest deployment, ACTIVE for older ones still draining. */
  readonly status: 'PRIMARY' | 'ACTIVE' | 'INACTIVE';
  readonly rolloutState: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
  readonly desiredCount: number;
  readonly runningCount: number;
  readonly taskDefinition: string;
}

export interface ServiceState {
  readonly taskDefinition: string;
  readonly desiredCount: number;
  readonly runningCount: number;
  readonly deployments: readonly Deployment[];
}

export interface ServiceController {
  describe(service: ServiceKey): Promise<ServiceState>;
  /** Sets the desired task count (0 stops every task); returns the deployment that will carry it. */
  scale(
    service: ServiceKey,
    desiredCount: number,
  ): Promise<{ deploymentId: string; previousDesiredCount: number }>;
  /** Starts a new deployment (ECS: UpdateService with forceNewDeployment) and returns its id. */
  redeploy(
    service: ServiceKey,
    taskDefinition?: string,
  ): Promise<{ deploymentId: string; taskDefinition: string }>;
  /**
   * Stops a deployment still in progress and rolls the service back to the service revision
   * before it (ECS: StopServiceDeployment with stopType ROLLBACK). Returns the deployment that
   * carries the rollback, to wait on, and the task definition it runs.
   */
  stopDeployment(
    service: ServiceKey,
    deploymentId: string,
  ): Promise<{ deploymentId: string; taskDefinition: string }>;
}

export interface BlobStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, body: Uint8Array | string, contentType: string): Promise<void>;
  /** Keys under a prefix, in no particular order. */
  list(prefix: string): Promise<string[]>;
}

/** Large objects, streamed both ways: backups never sit whole in memory or on local disk. */
export interface StreamStore {
  /** Multipart upload of a stream; resolves once the object is complete. */
  upload(key: string, body: NodeJS.ReadableStream, contentType: string): Promise<void>;
  /** The object's bytes as a stream; throws BackupNotFoundError when it does not exist. */
  download(key: string): Promise<NodeJS.ReadableStream>;
  setTags(key: string, tags: Record<string, string>): Promise<void>;
  getTags(key: string): Promise<Record<string, string>>;
  delete(key: string): Promise<void>;
}

export interface Clock {
  now(): Date;
}

/** One data point for CloudWatch (PutMetricData); the sink fixes the namespace. */
export interface MetricDatum {
  readonly name: string;
  readonly value: number;
  readonly unit: 'Milliseconds' | 'Seconds' | 'Count' | 'Percent' | 'None';
  readonly dimensions: Readonly<Record<string, string>>;
  readonly timestamp: Date;
  /** 1: high resolution (alarms may evaluate 10 s periods); 60: standard. */
  readonly storageResolution: 1 | 60;
}

/** Where steps publish their own metrics (health probe results, recovery times). */
export interface MetricsSink {
  put(data: readonly MetricDatum[]): Promise<void>;
}

/**
 * What a rollout gate reads over one evaluation window (seed 003's success criteria), each value
 * aggregated over the window, or null when the source has no data for it.
 */
export interface GateSample {
  /** Requests served (Sum). */
  readonly requests: number | null;
  /** Requests that failed (Sum); the gate divides by `requests`. */
  readonly errors: number | null;
  /** 95th percentile latency, milliseconds. */
  readonly p95LatencyMs: number | null;
  /** Peak memory of the API's containers, MB. */
  readonly memoryMb: number | null;
  /** Peak CPU of the API's containers, percent. */
  readonly cpuPercent: number | null;
}

/** Where rollout gates read health: CloudWatch on AWS, a scripted source in tests and rehearsals. */
export interface MetricsSource {
  /** Aggregates over [start, end). Throws MetricsUnavailableError when the source cannot answer. */
  sample(window: { readonly start: Date; readonly end: Date }): Promise<GateSample>;
  /** Names of the watched P0 alarms that are in ALARM now (empty when none is, or none is watched). */
  alarmsInAlarm(): Promise<string[]>;
}

/** The subset of Powertools Logger the steps use; the rehearsal supplies a recording one. */
export interface Log {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export type HttpFetch = typeof fetch;

/** What an ECS deployment event resolves to: the task definitions before and after. */
export interface ResolvedDeployment {
  /** The service deployment (ECS deployment history) the event belongs to, when ECS has one. */
  readonly serviceDeploymentArn: string | null;
  /** Task definition in service before the deployment (null when none is known). */
  readonly from: string | null;
  /** Task definition being deployed (null when ECS has no record of the deployment). */
  readonly to: string | null;
}

/** ECS deployment history (ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions). */
export interface DeploymentHistory {
  /**
   * The service deployment an ECS deployment event (`deploymentId`, event time) belongs to, and
   * its source and target task definitions.
   */
  resolve(serviceName: string, deploymentId: string, at: Date): Promise<ResolvedDeployment>;
}

export interface ParameterVersion {
  readonly version: number;
  readonly type: 'String' | 'StringList' | 'SecureString';
  /** Always null for a SecureString: its value is never requested decrypted, and never returned. */
  readonly value: string | null;
  readonly modifiedAt: Date;
  readonly modifiedBy: string | null;
}

/** SSM parameter history (GetParameterHistory without decryption). */
export interface ParameterHistory {
  /** Every stored version of the parameter, oldest first; [] when the parameter does not exist. */
  history(name: string): Promise<ParameterVersion[]>;
}

/** A watched parameter as it is now (GetParameter without decryption). */
export interface WatchedValue {
  readonly version: number;
  readonly type: 'String' | 'StringList' | 'SecureString';
  /** Always null for a SecureString: its value is never requested decrypted. */
  readonly value: string | null;
}

/** The application's own watched parameters, by full SSM name (config rollback). */
export interface WatchedParameterStore {
  /** The current version (and value, unless SecureString); undefined when the parameter does not exist. */
  get(name: string): Promise<WatchedValue | undefined>;
  /** Writes a String value as a new version (SSM PutParameter with Overwrite); history stays intact. */
  put(name: string, value: string): Promise<{ version: number }>;
}

/**
 * The rollback alarms' own history (CloudWatch DescribeAlarmHistory and DescribeAlarms): the
 * ALARM intervals of the stage's rollback alarms over [since, until], for the last known good.
 */
export interface AlarmHistorySource {
  history(window: { readonly since: Date; readonly until: Date }): Promise<AlarmHistory>;
}

/** Sets a CloudWatch alarm's state by hand (SetAlarmState): how a drill goes through the real detection path. */
export interface AlarmControl {
  setState(alarmName: string, state: 'ALARM' | 'OK', reason: string): Promise<void>;
}
