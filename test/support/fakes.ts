/**
 * In-memory fakes of the step ports, for unit tests of `functions/<step>/<step>.ts`.
 * Each fake records what was done to it so a test can assert the end state, not only the result.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { RuntimeConfig } from '../../functions/shared/config';
import {
  BackupNotFoundError,
  DeploymentNotStoppableError,
  FlagNotFoundError,
  ServiceNotFoundError,
} from '../../functions/shared/errors';
import type { FlagName } from '../../functions/shared/flags';
import type {
  BlobStore,
  Clock,
  Deployment,
  FlagStore,
  FlagValue,
  HttpFetch,
  Log,
  SecretStore,
  ServiceController,
  ServiceKey,
  ServiceState,
  StreamStore,
} from '../../functions/shared/ports';
import type { Deps } from '../../functions/shared/step';

/** The flags as seed 000 leaves them: native provider, no maintenance. */
export const SEED_FLAGS: Readonly<Record<FlagName, string>> = {
  'memory/provider': 'native',
  'memory/http-base': 'http://sidecar.internal:7070',
  'maintenance-mode': 'off',
  'automation/paused': 'false',
  'features/memory-context': '{"enabled":false,"percentage":0,"allowList":[]}',
  'database/active': 'legacy',
};

/** SSM-like parameters: every put that changes nothing still bumps the version, as SSM does. */
export class MemoryFlagStore implements FlagStore {
  private readonly params = new Map<FlagName, FlagValue>();
  /** Every put, in order: "nothing written" means this stays empty. */
  readonly puts: { name: FlagName; value: string; version: number }[] = [];

  constructor(initial: Partial<Record<FlagName, string>> = SEED_FLAGS) {
    for (const [name, value] of Object.entries(initial) as [FlagName, string][])
      this.params.set(name, { value, version: 1 });
  }

  async get(name: FlagName): Promise<FlagValue> {
    const p = this.params.get(name);
    if (!p) throw new FlagNotFoundError(`Flag parameter ${name} does not exist`);
    return p;
  }

  async put(name: FlagName, value: string): Promise<FlagValue> {
    const version = (this.params.get(name)?.version ?? 0) + 1;
    const next = { value, version };
    this.params.set(name, next);
    this.puts.push({ name, value, version });
    return next;
  }

  /** Sets a value behind the steps' back (an operator, another tool). */
  set(name: FlagName, value: string): void {
    const version = (this.params.get(name)?.version ?? 0) + 1;
    this.params.set(name, { value, version });
  }

  snapshot(): Partial<Record<FlagName, FlagValue>> {
    return Object.fromEntries(this.params);
  }
}

export class MemoryBlobStore implements BlobStore {
  readonly objects = new Map<string, Uint8Array>();
  readonly contentTypes = new Map<string, string>();

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.objects.get(key);
  }

  async put(key: string, body: Uint8Array | string, contentType: string): Promise<void> {
    this.objects.set(key, typeof body === 'string' ? new TextEncoder().encode(body) : body);
    this.contentTypes.set(key, contentType);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix));
  }

  putText(key: string, text: string): void {
    this.objects.set(key, new TextEncoder().encode(text));
  }

  text(key: string): string | undefined {
    const body = this.objects.get(key);
    return body && new TextDecoder().decode(body);
  }

  json(key: string): unknown {
    const text = this.text(key);
    return text === undefined ? undefined : JSON.parse(text);
  }
}

/** Streamed objects in memory, with tags: enough for the catalog and result steps. */
export class MemoryStreamStore implements StreamStore {
  readonly bodies = new Map<string, Buffer>();
  readonly tags = new Map<string, Record<string, string>>();

  async upload(key: string, body: NodeJS.ReadableStream): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
    this.bodies.set(key, Buffer.concat(chunks));
  }

  async download(key: string): Promise<NodeJS.ReadableStream> {
    const body = this.bodies.get(key);
    if (!body) throw new BackupNotFoundError(`${key} does not exist`);
    return Readable.from([body]);
  }

  async setTags(key: string, tags: Record<string, string>): Promise<void> {
    this.tags.set(key, { ...this.tags.get(key), ...tags });
  }

  async getTags(key: string): Promise<Record<string, string>> {
    return this.tags.get(key) ?? {};
  }

  async delete(key: string): Promise<void> {
    this.bodies.delete(key);
    this.tags.delete(key);
  }
}

/** A deployment with sensible defaults: a finished, healthy rollout of 2 tasks. */
export function deployment(overrides: Partial<Deployment> = {}): Deployment {
  return {
    id: 'ecs-svc/1',
    status: 'PRIMARY',
    rolloutState: 'COMPLETED',
    desiredCount: 2,
    runningCount: 2,
    taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7',
    ...overrides,
  };
}

export function serviceState(deployments: Deployment[] = [deployment()]): ServiceState {
  const primary = deployments.find((d) => d.status === 'PRIMARY') ?? deployments[0];
  return {
    taskDefinition: primary?.taskDefinition ?? 'unknown',
    desiredCount: primary?.desiredCount ?? 0,
    runningCount: deployments.reduce((n, d) => n + d.runningCount, 0),
    deployments,
  };
}

/**
 * ECS stand-in. `describe` answers the current state of a service, or the next queued one when a
 * test scripted a sequence with `queue`; `redeploy` starts a new PRIMARY deployment.
 */
export class ScriptedServiceController implements ServiceController {
  private readonly states = new Map<ServiceKey, ServiceState>();
  private readonly queued = new Map<ServiceKey, ServiceState[]>();
  private counter = 1;
  readonly redeploys: { service: ServiceKey; taskDefinition: string | undefined }[] = [];
  readonly describes: ServiceKey[] = [];

  constructor(
    initial: Partial<Record<ServiceKey, ServiceState>> = { api: serviceState(), sidecar: serviceState() },
  ) {
    for (const [key, state] of Object.entries(initial) as [ServiceKey, ServiceState][])
      this.states.set(key, state);
  }

  /** Queues states that successive `describe` calls return (the last one stays). */
  queue(service: ServiceKey, ...states: ServiceState[]): this {
    this.queued.set(service, [...(this.queued.get(service) ?? []), ...states]);
    return this;
  }

  async describe(service: ServiceKey): Promise<ServiceState> {
    this.describes.push(service);
    const next = this.queued.get(service)?.shift();
    if (next) this.states.set(service, next);
    const state = this.states.get(service);
    if (!state) throw new ServiceNotFoundError(`service ${service} not found`);
    return state;
  }

  async redeploy(service: ServiceKey, taskDefinition?: string) {
    this.redeploys.push({ service, taskDefinition });
    const current = this.states.get(service);
    if (!current) throw new ServiceNotFoundError(`service ${service} not found`);
    this.counter += 1;
    const td = taskDefinition ?? current.taskDefinition;
    const fresh = deployment({
      id: `ecs-svc/${this.counter}`,
      rolloutState: 'IN_PROGRESS',
      runningCount: 0,
      taskDefinition: td,
    });
    const older = current.deployments.map((d) => ({ ...d, status: 'ACTIVE' as const }));
    this.states.set(service, { ...current, taskDefinition: td, deployments: [fresh, ...older] });
    return { deploymentId: fresh.id, taskDefinition: td };
  }

  readonly stops: { service: ServiceKey; deploymentId: string }[] = [];

  /** StopServiceDeployment ROLLBACK: a new deployment of the revision before the stopped one. */
  async stopDeployment(service: ServiceKey, deploymentId: string) {
    this.stops.push({ service, deploymentId });
    const current = this.states.get(service);
    if (!current) throw new ServiceNotFoundError(`service ${service} not found`);
    const stopped = current.deployments.find((d) => d.id === deploymentId);
    const previous = current.deployments.find((d) => d.id !== deploymentId && d.status === 'ACTIVE');
    if (stopped?.rolloutState !== 'IN_PROGRESS' || !previous) {
      throw new DeploymentNotStoppableError(`deployment ${deploymentId} of ${service} is not in progress`);
    }
    this.counter += 1;
    const fresh = deployment({
      id: `ecs-svc/${this.counter}`,
      rolloutState: 'IN_PROGRESS',
      runningCount: 0,
      taskDefinition: previous.taskDefinition,
    });
    this.states.set(service, {
      ...current,
      taskDefinition: previous.taskDefinition,
      deployments: [fresh, ...current.deployments.filter((d) => d.id !== deploymentId)],
    });
    return { deploymentId: fresh.id, taskDefinition: previous.taskDefinition };
  }

  readonly scales: { service: ServiceKey; desiredCount: number }[] = [];

  async scale(service: ServiceKey, desiredCount: number) {
    this.scales.push({ service, desiredCount });
    const current = this.states.get(service);
    if (!current) throw new ServiceNotFoundError(`service ${service} not found`);
    const primary = current.deployments.find((d) => d.status === 'PRIMARY') ?? deployment();
    const updated = { ...primary, desiredCount, runningCount: desiredCount };
    this.states.set(service, {
      ...current,
      desiredCount,
      runningCount: desiredCount,
      deployments: [updated],
    });
    return { deploymentId: updated.id, previousDesiredCount: current.desiredCount };
  }
}

export class MemorySecretStore implements SecretStore {
  readonly requested: string[] = [];
  constructor(private readonly values: Record<string, string> = {}) {}

  async get(parameterName: string): Promise<string> {
    this.requested.push(parameterName);
    const value = this.values[parameterName];
    if (value === undefined) throw new FlagNotFoundError(`Secret parameter ${parameterName} does not exist`);
    return value;
  }
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly extra: Record<string, unknown> | undefined;
}

export class RecordingLog implements Log {
  readonly lines: LogLine[] = [];
  info(message: string, extra?: Record<string, unknown>): void {
    this.lines.push({ level: 'info', message, extra });
  }
  warn(message: string, extra?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', message, extra });
  }
  error(message: string, extra?: Record<string, unknown>): void {
    this.lines.push({ level: 'error', message, extra });
  }
}

/** A clock that only moves when told to. */
export class FixedClock implements Clock {
  constructor(private at: Date = new Date('2025-03-01T10:00:00.000Z')) {}
  now(): Date {
    return new Date(this.at);
  }
  set(iso: string): void {
    this.at = new Date(iso);
  }
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function merge<T>(base: T, over: DeepPartial<T> | undefined): T {
  if (!over) return base;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object'
        ? merge(b, v as DeepPartial<typeof b>)
        : v;
  }
  return out as T;
}

export const SIDECAR_KEY_PARAMETER = '/switchback/test/secrets/sidecar-api-key';

/** A valid RuntimeConfig (checked against the schema), with overrides merged in. */
export function testConfig(overrides?: DeepPartial<RuntimeConfig>): RuntimeConfig {
  const base: RuntimeConfig = {
    environment: 'test',
    flagPrefix: '/switchback/test',
    endpoints: { api: 'http://api.internal:8080', sidecar: 'http://sidecar.internal:7070' },
    services: { cluster: 'switchback-test', api: 'memory-api', sidecar: 'memory-sidecar' },
    changeRecords: { bucket: 'switchback-test-records', prefix: 'change-records/test' },
    secrets: {},
    timing: { stabilityPollSeconds: 5, stabilityMaxAttempts: 6, httpTimeoutMs: 1_000 },
  };
  return RuntimeConfig.parse(merge(base, overrides));
}

export interface FakeDeps extends Deps {
  readonly config: RuntimeConfig;
  readonly flags: MemoryFlagStore;
  readonly secrets: MemorySecretStore;
  readonly services: ScriptedServiceController;
  readonly blobs: MemoryBlobStore;
  readonly objects: MemoryStreamStore;
  readonly fetch: HttpFetch;
  readonly clock: FixedClock;
  readonly log: RecordingLog;
}

/** Fresh fakes for every port; `fetch` is the real one (tests start real servers). */
export function fakeDeps(overrides: Partial<FakeDeps> = {}): FakeDeps {
  return {
    config: testConfig(),
    flags: new MemoryFlagStore(),
    secrets: new MemorySecretStore(),
    services: new ScriptedServiceController(),
    blobs: new MemoryBlobStore(),
    objects: new MemoryStreamStore(),
    fetch: globalThis.fetch,
    clock: new FixedClock(),
    log: new RecordingLog(),
    ...overrides,
  };
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface TestServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1, on a free port; records every request it receives. */
export async function startServer(
  handle: (req: RecordedRequest, res: ServerResponse) => void,
): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      handle(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** An address nothing listens on: a server is started, its port noted, and the server closed. */
export async function refusedUrl(): Promise<string> {
  const server = await startServer(() => {});
  await server.close();
  return server.url;
}
