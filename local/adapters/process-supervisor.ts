import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { DeploymentNotStoppableError, ServiceNotFoundError } from '../../functions/shared/errors';
import type {
  Deployment,
  DeploymentHistory,
  ResolvedDeployment,
  ServiceController,
  ServiceKey,
  ServiceState,
} from '../../functions/shared/ports';

/** A deployment's state change, as ECS reports it in an `ECS Deployment State Change` event. */
export interface DeploymentStateChange {
  readonly service: ServiceKey;
  readonly deploymentId: string;
  readonly state: 'IN_PROGRESS' | 'COMPLETED';
  readonly at: Date;
}

const NODE_MODULES = join(__dirname, '..', '..', 'node_modules');

export interface ServiceSpec {
  /** Compiled entry point of the service (run with this Node.js). */
  readonly script: string;
  readonly healthUrl: string;
  /** The task's environment, computed at each start: how flags reach the service, as ECS secrets would. */
  readonly environment: () => Promise<Record<string, string>>;
  /** Where the process's stdout/stderr go. */
  readonly logFile: string;
}

interface Managed {
  spec: ServiceSpec;
  taskDefinition: string;
  revision: number;
  deployment: { id: string; rolloutState: Deployment['rolloutState']; taskDefinition: string } | undefined;
  /** The completed deployment a deployment still in progress replaces (ECS keeps it ACTIVE until then). */
  previous: { id: string; taskDefinition: string } | undefined;
  child: ChildProcess | undefined;
  healthy: boolean;
  /** False once stopped by hand: a crashed task is replaced, a stopped service is not. */
  wanted: boolean;
  restarts: number;
  log: WriteStream;
}

/**
 * ECS stand-in for the rehearsal: each service is a real child process. `redeploy` stops the
 * running task and starts a new one with the environment computed afresh; a task that exits is
 * replaced after a short back-off, as ECS replaces failed tasks, and the deployment stays
 * IN_PROGRESS until a task answers its health check.
 */
export class ProcessSupervisor implements ServiceController {
  private readonly services = new Map<ServiceKey, Managed>();
  private deploymentCounter = 0;
  private closed = false;
  /** Task definition revisions beyond `:1`: what each adds to the task's environment. */
  private readonly revisions = new Map<string, Record<string, string>>();
  /** Every deployment's task definitions (ECS's deployment history), by deployment id. */
  private readonly history = new Map<string, ResolvedDeployment>();
  /** Called on every deployment state change, as ECS sends events to EventBridge. */
  readonly listeners: ((change: DeploymentStateChange) => void)[] = [];

  constructor(
    specs: Record<ServiceKey, ServiceSpec>,
    private readonly options: { healthIntervalMs?: number; restartDelayMs?: number } = {},
  ) {
    for (const [key, spec] of Object.entries(specs) as [ServiceKey, ServiceSpec][]) {
      this.services.set(key, {
        spec,
        taskDefinition: `local:${key}:1`,
        revision: 1,
        deployment: undefined,
        previous: undefined,
        child: undefined,
        healthy: false,
        wanted: false,
        restarts: 0,
        log: createWriteStream(spec.logFile, { flags: 'a' }),
      });
    }
  }

  async describe(service: ServiceKey): Promise<ServiceState> {
    const m = this.get(service);
    const running = m.child && m.healthy ? 1 : 0;
    const deployments: Deployment[] = m.deployment
      ? [
          {
            id: m.deployment.id,
            status: 'PRIMARY',
            rolloutState: m.deployment.rolloutState,
            desiredCount: m.wanted ? 1 : 0,
            runningCount: running,
            taskDefinition: m.deployment.taskDefinition,
          },
        ]
      : [];
    if (m.previous && m.deployment?.rolloutState === 'IN_PROGRESS') {
      deployments.push({
        id: m.previous.id,
        status: 'ACTIVE',
        rolloutState: 'COMPLETED',
        desiredCount: 0,
        runningCount: 0,
        taskDefinition: m.previous.taskDefinition,
      });
    }
    return {
      taskDefinition: m.taskDefinition,
      desiredCount: m.wanted ? 1 : 0,
      runningCount: running,
      deployments,
    };
  }

  /**
   * Registers a new task definition revision of a service (`local:<service>:<n>`): the same
   * program, with `environment` added to its task's environment (a bad build: errors, latency).
   */
  registerTaskDefinition(service: ServiceKey, environment: Record<string, string>): string {
    this.get(service);
    const n = [...this.revisions.keys()].filter((td) => td.startsWith(`local:${service}:`)).length + 2;
    const taskDefinition = `local:${service}:${n}`;
    this.revisions.set(taskDefinition, { ...environment });
    return taskDefinition;
  }

  async redeploy(service: ServiceKey, taskDefinition?: string) {
    const m = this.get(service);
    if (
      taskDefinition &&
      taskDefinition !== `local:${service}:1` &&
      !(taskDefinition.startsWith(`local:${service}:`) && this.revisions.has(taskDefinition))
    ) {
      throw new ServiceNotFoundError(`Task definition ${taskDefinition} does not belong to ${service}`);
    }
    const from = m.taskDefinition;
    if (taskDefinition) m.taskDefinition = taskDefinition;
    const id = `ecs-svc/${service}-${++this.deploymentCounter}`;
    if (m.deployment?.rolloutState === 'COMPLETED')
      m.previous = { id: m.deployment.id, taskDefinition: m.deployment.taskDefinition };
    m.deployment = { id, rolloutState: 'IN_PROGRESS', taskDefinition: m.taskDefinition };
    this.history.set(id, {
      serviceDeploymentArn: `local:service-deployment/${service}/${id}`,
      from,
      to: m.taskDefinition,
    });
    this.emit({ service, deploymentId: id, state: 'IN_PROGRESS', at: new Date() });
    await this.stopTask(m);
    m.wanted = true;
    m.restarts = 0;
    void this.startTask(m);
    return { deploymentId: id, taskDefinition: m.taskDefinition };
  }

  /**
   * StopServiceDeployment with ROLLBACK: a deployment still in progress is replaced by a new
   * deployment of the revision it was replacing, as ECS rolls back to the previous service revision.
   */
  async stopDeployment(service: ServiceKey, deploymentId: string) {
    const m = this.get(service);
    if (m.deployment?.id !== deploymentId || m.deployment.rolloutState !== 'IN_PROGRESS' || !m.previous) {
      throw new DeploymentNotStoppableError(
        `Deployment ${deploymentId} of ${service} is not in progress (ECS refuses to stop it)`,
      );
    }
    return this.redeploy(service, m.previous.taskDefinition);
  }

  async scale(service: ServiceKey, desiredCount: number) {
    const m = this.get(service);
    const previousDesiredCount = m.wanted ? 1 : 0;
    if (desiredCount === 0) {
      const id = `ecs-svc/${service}-${++this.deploymentCounter}`;
      m.deployment = { id, rolloutState: 'COMPLETED', taskDefinition: m.taskDefinition };
      m.wanted = false;
      await this.stopTask(m);
      return { deploymentId: id, previousDesiredCount };
    }
    if (m.wanted && m.deployment) return { deploymentId: m.deployment.id, previousDesiredCount };
    const { deploymentId } = await this.redeploy(service);
    return { deploymentId, previousDesiredCount };
  }

  /** Starts a service the first time and waits until it is healthy. */
  async start(service: ServiceKey, timeoutMs = 10_000): Promise<void> {
    const { deploymentId } = await this.redeploy(service);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const d = (await this.describe(service)).deployments[0];
      if (d?.id === deploymentId && d.rolloutState === 'COMPLETED') return;
      await sleep(25);
    }
    throw new Error(
      `${service} did not become healthy within ${timeoutMs} ms (see ${this.get(service).spec.logFile})`,
    );
  }

  /** Stops a service and keeps it down (a test taking the sidecar away). */
  async stop(service: ServiceKey): Promise<void> {
    const m = this.get(service);
    m.wanted = false;
    await this.stopTask(m);
  }

  /** ECS deployment history: what a deployment event resolves to (DeploymentHistory). */
  get deploymentHistory(): DeploymentHistory {
    return {
      resolve: async (_serviceName, deploymentId) =>
        this.history.get(deploymentId) ?? { serviceDeploymentArn: null, from: null, to: null },
    };
  }

  private emit(change: DeploymentStateChange): void {
    for (const listener of this.listeners) listener(change);
  }

  isRunning(service: ServiceKey): boolean {
    const m = this.get(service);
    return Boolean(m.child && m.healthy);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const m of this.services.values()) {
      m.wanted = false;
      await this.stopTask(m);
      m.log.end();
    }
  }

  private get(service: ServiceKey): Managed {
    const m = this.services.get(service);
    if (!m) throw new ServiceNotFoundError(`No local service "${service}"`);
    return m;
  }

  private async startTask(m: Managed): Promise<void> {
    if (!m.wanted || this.closed) return;
    const env = { ...(await m.spec.environment()), ...this.revisions.get(m.taskDefinition) };
    const child = spawn(process.execPath, [m.spec.script], {
      // NODE_PATH lets the compiled services load native modules (better-sqlite3) from the project.
      env: { PATH: process.env.PATH ?? '', NODE_PATH: NODE_MODULES, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    m.child = child;
    m.healthy = false;
    child.stdout?.pipe(m.log, { end: false });
    child.stderr?.pipe(m.log, { end: false });
    const deploymentId = m.deployment?.id;
    child.once('exit', (code) => {
      if (m.child !== child) return;
      m.child = undefined;
      m.healthy = false;
      if (!m.wanted || this.closed) return;
      m.restarts += 1;
      m.log.write(`{"supervisor":"task exited","code":${code},"replacing":true}\n`);
      setTimeout(() => {
        if (m.deployment?.id === deploymentId && m.wanted && !m.child) void this.startTask(m);
      }, this.options.restartDelayMs ?? 150);
    });
    void this.watchHealth(m, child);
  }

  private async watchHealth(m: Managed, child: ChildProcess): Promise<void> {
    const interval = this.options.healthIntervalMs ?? 50;
    while (m.child === child && !this.closed) {
      try {
        const res = await fetch(m.spec.healthUrl, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.ok && m.child === child) {
          m.healthy = true;
          if (m.deployment && m.deployment.rolloutState !== 'COMPLETED') {
            m.deployment.rolloutState = 'COMPLETED';
            const service = [...this.services.entries()].find(([, v]) => v === m)?.[0];
            if (service)
              this.emit({ service, deploymentId: m.deployment.id, state: 'COMPLETED', at: new Date() });
          }
          return;
        }
      } catch {
        // Not listening yet.
      }
      await sleep(interval);
    }
  }

  private async stopTask(m: Managed): Promise<void> {
    const child = m.child;
    if (!child) return;
    m.child = undefined;
    m.healthy = false;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
