import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArnFormat, Aws, CfnDeletionPolicy, type CfnResource, Fn, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { ICluster, TaskDefinition } from 'aws-cdk-lib/aws-ecs';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { DefinitionBody, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { functionPlaceholder, STEP_NAMES, type StepName } from '../functions/index';
import { INTEGRATION, PLACEHOLDER, RESOURCE } from '../procedures/integrations';
import { PROCEDURE_ALARM_DEFAULTS, STATE_MACHINE_LOGGING, STATE_MACHINE_TRACING } from './defaults';
import type { HouseFunction } from './house-function';
import { acknowledge, acknowledgeWildcardResource, STAR_ONLY_REASONS } from './nag';

/** Where state machine log groups live (the prefix CloudWatch Logs treats as vended logs). */
export const VENDED_LOGS_PREFIX = '/aws/vendedlogs/states/';

/** Folder of the ASL files, resolved from this file (never the working directory). */
export const STATEMACHINES_DIR = join(__dirname, '..', 'statemachines');

/**
 * An ECS task a procedure may run with `ecs:runTask(.sync)`: its task definition, the cluster it
 * runs on and the two roles ECS is passed (`lib/data-task.ts` is one).
 */
export interface EcsTaskTarget {
  readonly cluster: ICluster;
  readonly taskDefinition: TaskDefinition;
  readonly taskRole: IRole;
  readonly executionRole: IRole;
}

/** What a `${Placeholder}` in an ASL file stands for. Each kind substitutes one attribute. */
export type ProcedureBinding =
  /** Substitutes the function ARN; a Task with it as Resource gets `lambda:InvokeFunction`. */
  | { readonly function: HouseFunction }
  /** Substitutes the table name; DynamoDB Tasks naming it get exactly their actions on it. */
  | { readonly table: ITable }
  /** Substitutes the topic ARN; `sns:publish` Tasks naming it get `sns:Publish` (and its key). */
  | { readonly topic: ITopic }
  /** Substitutes the state machine ARN; `states:startExecution` Tasks naming it may start it. */
  | { readonly stateMachine: StateMachine }
  /**
   * Substitutes the task definition ARN; `ecs:runTask(.sync)` Tasks naming it as TaskDefinition may
   * run that family on its cluster and pass exactly its task and execution roles.
   */
  | { readonly ecsTask: EcsTaskTarget }
  /** Substitutes the target's cluster ARN; `ecs:runTask` Tasks must name it as Cluster. */
  | { readonly ecsCluster: EcsTaskTarget }
  /**
   * A state machine this stage does not deploy, for `states:startExecution` Tasks that cannot run
   * here (the cutover's backups when the stage has no `data`: its list is always empty).
   * Substitutes the ARN of a state machine of this name, which does not exist, and grants nothing.
   */
  | { readonly notDeployed: string }
  /** Substitutes a literal string (environment name and the like); grants nothing. */
  | { readonly value: string };

/**
 * What every procedure of an environment may bind: the placeholders the shared protocol uses
 * (`${Environment}`, `${LockTableName}`, `${NotificationTopicArn}`) and one `${<Step>FunctionArn}`
 * per step. A Procedure binds from it exactly the placeholders its definition uses.
 */
export interface ProcedureContext {
  readonly environment: string;
  readonly lockTable: ITable;
  readonly topic: ITopic;
  readonly steps: Readonly<Record<StepName, HouseFunction>>;
  readonly logRetention: RetentionDays;
}

export interface ProcedureProps {
  /** The procedure, by its file name: `statemachines/<name>.asl.json`. */
  readonly name: string;
  /**
   * The environment's shared bindings; the Procedure takes from it what its definition uses.
   * @default - none: `bindings` must cover every placeholder
   */
  readonly context?: ProcedureContext;
  /**
   * The procedure's own placeholders (child state machines, ECS tasks...), each used by the
   * definition; with `context`, together they bind every placeholder, no more and no fewer.
   * @default - none
   */
  readonly bindings?: Readonly<Record<string, ProcedureBinding>>;
  /**
   * Retention of the state machine's log group.
   * @default - the context's
   */
  readonly logRetention?: RetentionDays;
  /**
   * Where the failed / timed-out / aborted alarms notify.
   * @default - the context's topic
   */
  readonly alarmTopic?: ITopic;
  /**
   * Read the definition from this file instead.
   * @default - `statemachines/<name>.asl.json`
   */
  readonly definitionPath?: string;
  /**
   * State machines whose executions the definition's `aws-sdk:sfn:stopExecution` Tasks may stop.
   * The ExecutionArn is only known at run time, so the scope is declared here: a stopExecution Task
   * without it, or this without such a Task, fails the synth.
   * @default - none
   */
  readonly stoppable?: readonly StateMachine[];
}

interface AslState {
  readonly Type?: string;
  readonly Resource?: unknown;
  readonly Parameters?: Record<string, unknown>;
  readonly TimeoutSeconds?: unknown;
  readonly Branches?: readonly { readonly States?: Record<string, AslState> }[];
  readonly ItemProcessor?: { readonly States?: Record<string, AslState> };
  readonly Iterator?: { readonly States?: Record<string, AslState> };
}

const {
  dynamodb: DYNAMODB,
  startExecution: START_EXECUTION,
  snsPublish: SNS_PUBLISH,
  lambdaInvoke: LAMBDA_INVOKE,
  stopExecution: STOP_EXECUTION,
  ecsRunTask: RUN_TASK,
} = INTEGRATION;

/**
 * One Step Functions procedure loaded from its ASL file. The construct reads the definition,
 * checks that every `${Placeholder}` has exactly one typed binding, and **derives the execution
 * role's permissions from the Task states**: nothing is granted that no Task uses, and a Task it
 * cannot account for (an unknown integration, a dynamic table or topic) fails the synth.
 *
 * The state machine logs all events without execution data, is X-Ray traced, and has alarms on
 * failed, timed-out and aborted executions that notify `alarmTopic`.
 */
export class Procedure extends Construct {
  public readonly name: string;
  public readonly stateMachine: StateMachine;
  public readonly logGroup: LogGroup;
  public readonly alarms: readonly Alarm[];

  /** The definition text of a procedure. */
  static definition(name: string, path = join(STATEMACHINES_DIR, `${name}.asl.json`)): string {
    return readFileSync(path, 'utf8');
  }

  /** The placeholders a definition uses, sorted, each once. */
  static placeholders(definition: string): string[] {
    return [...new Set([...definition.matchAll(PLACEHOLDER)].map((m) => m[1] as string))].sort();
  }

  constructor(scope: Construct, id: string, props: ProcedureProps) {
    super(scope, id);
    this.name = props.name;
    const text = Procedure.definition(props.name, props.definitionPath);
    let definition: { States?: Record<string, AslState> };
    try {
      definition = JSON.parse(text);
    } catch (err) {
      throw new Error(`Procedure ${props.name}: the definition is not valid JSON`, { cause: err });
    }

    const used = Procedure.placeholders(text);
    const explicit = props.bindings ?? {};
    const unused = Object.keys(explicit)
      .filter((b) => !used.includes(b))
      .sort();
    const bindings: Record<string, ProcedureBinding> = {
      ...contextBindings(props.context, used),
      ...explicit,
    };
    const bound = Object.keys(bindings);
    const unbound = used.filter((p) => !bound.includes(p));
    const logRetention = props.logRetention ?? props.context?.logRetention;
    const alarmTopic = props.alarmTopic ?? props.context?.topic;
    if (logRetention === undefined || alarmTopic === undefined) {
      throw new Error(`Procedure ${props.name}: give a context, or logRetention and alarmTopic`);
    }
    if (unbound.length) {
      throw new Error(
        `Procedure ${props.name}: no binding for placeholder(s) ${unbound.map((p) => `\${${p}}`).join(', ')}`,
      );
    }
    if (unused.length) {
      throw new Error(`Procedure ${props.name}: binding(s) ${unused.join(', ')} not used by the definition`);
    }

    const grants = new GrantCollector(props.name, bindings, props.stoppable ?? []);
    walkTasks(definition.States ?? {}, (stateName, state) => grants.task(stateName, state));
    grants.checkStoppable();

    // Under /aws/vendedlogs/: Step Functions then needs no entry in the account's CloudWatch Logs
    // resource policy (capped at 5,120 characters, shared by every state machine of the account).
    // The stack id's UUID keeps the name unique when a deleted stack (whose logs are retained) is
    // deployed again.
    const stack = Stack.of(this);
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: logRetention,
      logGroupName: Fn.join('', [
        `${VENDED_LOGS_PREFIX}${stack.stackName}-${props.name}-`,
        Fn.select(2, Fn.split('/', Aws.STACK_ID)),
      ]),
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      // An S3 asset (DefinitionS3Location), minified: the definitions together are ~400 KB, which
      // inline would take most of CloudFormation's 1 MB template limit. The substitutions stay in
      // the template and apply to the S3 definition alike.
      definitionBody: DefinitionBody.fromFile(minifiedDefinitionFile(props.name, definition)),
      definitionSubstitutions: substitutions(bindings, Stack.of(this)),
      logs: { destination: this.logGroup, ...STATE_MACHINE_LOGGING },
      tracingEnabled: STATE_MACHINE_TRACING,
    });
    for (const statement of grants.statements(this)) this.stateMachine.addToRolePolicy(statement);

    acknowledge(
      this.stateMachine.role,
      'AwsSolutions-IAM5[Resource::*]',
      `${STAR_ONLY_REASONS.logDelivery} ${STAR_ONLY_REASONS.xray}`,
    );
    for (const arn of grants.executionArns) {
      acknowledgeWildcardResource(
        this.stateMachine.role,
        arn,
        'startExecution.sync:2 must describe and stop the child execution it started; execution names are chosen at run time, so the grant covers executions of that one state machine only.',
      );
    }
    for (const [arn, reason] of grants.wildcards)
      acknowledgeWildcardResource(this.stateMachine.role, arn, reason);

    const sm = this.stateMachine;
    const metrics: [string, Metric][] = [
      ['Failed', sm.metricFailed()],
      ['TimedOut', sm.metricTimedOut()],
      ['Aborted', sm.metricAborted()],
    ];
    this.alarms = metrics.map(([what, metric]) => {
      const alarm = new Alarm(this, `${what}Alarm`, {
        metric: metric.with({ statistic: 'Sum', period: PROCEDURE_ALARM_DEFAULTS.period }),
        threshold: PROCEDURE_ALARM_DEFAULTS.threshold,
        evaluationPeriods: PROCEDURE_ALARM_DEFAULTS.evaluationPeriods,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: `Switchback ${props.name}: an execution ${what.toLowerCase()}. Check the execution history, the notification it sent and the lock.`,
      });
      alarm.addAlarmAction(new SnsAction(alarmTopic));
      return alarm;
    });
  }
}

/** The context's bindings for the placeholders a definition uses. */
function contextBindings(
  context: ProcedureContext | undefined,
  used: readonly string[],
): Record<string, ProcedureBinding> {
  if (!context) return {};
  const available: Record<string, ProcedureBinding> = {
    Environment: { value: context.environment },
    LockTableName: { table: context.lockTable },
    NotificationTopicArn: { topic: context.topic },
    ...Object.fromEntries(STEP_NAMES.map((s) => [functionPlaceholder(s), { function: context.steps[s] }])),
  };
  return Object.fromEntries(
    used.filter((p) => p in available).map((p) => [p, available[p] as ProcedureBinding]),
  );
}

function substitutions(
  bindings: Readonly<Record<string, ProcedureBinding>>,
  stack: Stack,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(bindings).map(([name, b]) => {
      if ('function' in b) return [name, b.function.functionArn];
      if ('table' in b) return [name, b.table.tableName];
      if ('topic' in b) return [name, b.topic.topicArn];
      if ('stateMachine' in b) return [name, b.stateMachine.stateMachineArn];
      if ('ecsTask' in b) return [name, b.ecsTask.taskDefinition.taskDefinitionArn];
      if ('ecsCluster' in b) return [name, b.ecsCluster.cluster.clusterArn];
      if ('notDeployed' in b) {
        const arn = stack.formatArn({
          service: 'states',
          resource: 'stateMachine',
          resourceName: b.notDeployed,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        });
        return [name, arn];
      }
      return [name, b.value];
    }),
  );
}

/** Visits every Task, including those inside Parallel branches and Map processors. */
function walkTasks(states: Record<string, AslState>, visit: (name: string, state: AslState) => void): void {
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === 'Task') visit(name, state);
    for (const branch of state.Branches ?? []) walkTasks(branch.States ?? {}, visit);
    if (state.ItemProcessor?.States) walkTasks(state.ItemProcessor.States, visit);
    if (state.Iterator?.States) walkTasks(state.Iterator.States, visit);
  }
}

/** Accumulates the permissions the Task states need, per resource. */
class GrantCollector {
  private readonly functions = new Map<string, HouseFunction>();
  private readonly tables = new Map<string, { table: ITable; actions: Set<string> }>();
  private readonly topics = new Map<string, ITopic>();
  private readonly machines = new Map<string, { machine: StateMachine; sync: boolean }>();
  private readonly ecsTasks = new Map<string, { target: EcsTaskTarget; sync: boolean }>();
  /** Execution ARNs (with the run-time name wildcard) granted for `.sync` starts. */
  public readonly executionArns: string[] = [];
  /** Other wildcard resources granted, each with the reason it cannot be narrower. */
  public readonly wildcards: [resource: string, reason: string][] = [];

  /** Whether a Task stops executions (of the `stoppable` state machines). */
  private stops = false;

  constructor(
    private readonly procedure: string,
    private readonly bindings: Readonly<Record<string, ProcedureBinding>>,
    private readonly stoppable: readonly StateMachine[] = [],
  ) {}

  /** A `stoppable` declaration without a stopExecution Task would grant what nothing uses. */
  checkStoppable(): void {
    if (this.stoppable.length && !this.stops) {
      throw new Error(
        `Procedure ${this.procedure}: stoppable state machines are declared but no Task uses ${RESOURCE.stopExecution}`,
      );
    }
  }

  task(state: string, task: AslState): void {
    const resource = task.Resource;
    if (typeof resource !== 'string') throw this.error(state, 'has no literal Resource');
    const direct = /^\$\{([A-Za-z0-9_]+)\}$/.exec(resource);
    if (direct) {
      const fn = this.bound(state, direct[1] as string, 'function', resource);
      const limit = task.TimeoutSeconds;
      if (typeof limit === 'number' && fn.timeout.toSeconds() >= limit) {
        throw this.error(
          state,
          `has TimeoutSeconds ${limit} but ${fn.step} may run ${fn.timeout.toSeconds()} s; lower the function timeout`,
        );
      }
      this.functions.set(fn.step, fn);
      return;
    }
    if (LAMBDA_INVOKE.test(resource)) {
      // The function is named by Parameters.FunctionName; a `.waitForTaskToken` task's TimeoutSeconds
      // bounds the wait for the callback, not the function, so no timeout comparison applies.
      const fn = this.bound(state, this.placeholderParam(state, task, 'FunctionName'), 'function', resource);
      this.functions.set(fn.step, fn);
      return;
    }
    const ddb = DYNAMODB.exec(resource);
    if (ddb) {
      const table = this.bound(state, this.placeholderParam(state, task, 'TableName'), 'table', resource);
      const action = `dynamodb:${(ddb[1] as string).charAt(0).toUpperCase()}${(ddb[1] as string).slice(1)}`;
      const key = table.node.path;
      const entry = this.tables.get(key) ?? { table, actions: new Set<string>() };
      entry.actions.add(action);
      this.tables.set(key, entry);
      return;
    }
    if (SNS_PUBLISH.test(resource)) {
      const topic = this.bound(state, this.placeholderParam(state, task, 'TopicArn'), 'topic', resource);
      this.topics.set(topic.node.path, topic);
      return;
    }
    const start = START_EXECUTION.exec(resource);
    if (start) {
      const named = this.bindings[this.placeholderParam(state, task, 'StateMachineArn')];
      if (named && 'notDeployed' in named) return;
      const machine = this.bound(
        state,
        this.placeholderParam(state, task, 'StateMachineArn'),
        'stateMachine',
        resource,
      );
      const prior = this.machines.get(machine.node.path);
      this.machines.set(machine.node.path, { machine, sync: Boolean(start[1]) || Boolean(prior?.sync) });
      return;
    }
    if (STOP_EXECUTION.test(resource)) {
      if (!this.stoppable.length) {
        throw this.error(
          state,
          'stops an execution, but the Procedure declares no stoppable state machines (the ExecutionArn is only known at run time)',
        );
      }
      this.stops = true;
      return;
    }
    const run = RUN_TASK.exec(resource);
    if (run) {
      const target = this.bound(
        state,
        this.placeholderParam(state, task, 'TaskDefinition'),
        'ecsTask',
        resource,
      );
      const cluster = this.bound(
        state,
        this.placeholderParam(state, task, 'Cluster'),
        'ecsCluster',
        resource,
      );
      if (cluster !== target) {
        throw this.error(state, 'runs a task definition on the cluster of another task target');
      }
      const overrides = task.Parameters?.Overrides;
      const roleOverride = Object.keys(typeof overrides === 'object' && overrides ? overrides : {}).find(
        (k) => /^(TaskRoleArn|ExecutionRoleArn)(\.\$)?$/.test(k),
      );
      if (roleOverride) {
        throw this.error(state, `overrides ${roleOverride}; only the target's own roles may be passed`);
      }
      const cfn = target.taskDefinition.node.defaultChild as CfnResource | undefined;
      if (cfn?.cfnOptions.updateReplacePolicy !== CfnDeletionPolicy.RETAIN) {
        throw this.error(
          state,
          `runs ${target.taskDefinition.node.path}, whose previous revision a deploy would deregister: ECS runs no INACTIVE revision, so an execution in flight would fail its next runTask; set its UpdateReplacePolicy to Retain`,
        );
      }
      const key = target.taskDefinition.node.path;
      const prior = this.ecsTasks.get(key);
      this.ecsTasks.set(key, { target, sync: Boolean(run[1]) || Boolean(prior?.sync) });
      return;
    }
    throw this.error(
      state,
      `uses ${resource}, which Procedure cannot grant; add it to lib/procedure.ts first`,
    );
  }

  statements(scope: Construct): PolicyStatement[] {
    const stack = Stack.of(scope);
    const out: PolicyStatement[] = [];
    if (this.functions.size) {
      out.push(
        new PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [...this.functions.values()].map((f) => f.functionArn),
        }),
      );
    }
    for (const { table, actions } of this.tables.values()) {
      out.push(new PolicyStatement({ actions: [...actions].sort(), resources: [table.tableArn] }));
    }
    for (const topic of this.topics.values()) {
      out.push(new PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }));
      if (topic.masterKey) {
        out.push(
          new PolicyStatement({
            actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
            resources: [topic.masterKey.keyArn],
          }),
        );
      }
    }
    for (const { machine, sync } of this.machines.values()) {
      out.push(
        new PolicyStatement({ actions: ['states:StartExecution'], resources: [machine.stateMachineArn] }),
      );
      if (!sync) continue;
      const executions = stack.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${machine.stateMachineName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      this.executionArns.push(executions);
      out.push(
        new PolicyStatement({
          actions: ['states:DescribeExecution', 'states:StopExecution'],
          resources: [executions],
        }),
      );
      out.push(
        new PolicyStatement({
          actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
          resources: [
            stack.formatArn({
              service: 'events',
              resource: 'rule',
              resourceName: 'StepFunctionsGetEventsForStepFunctionsExecutionRule',
            }),
          ],
        }),
      );
    }
    if (this.stops) {
      const executions = this.stoppable.map((machine) =>
        stack.formatArn({
          service: 'states',
          resource: 'execution',
          resourceName: `${machine.stateMachineName}:*`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      );
      for (const arn of executions) {
        this.wildcards.push([
          arn,
          'aws-sdk:sfn:stopExecution stops the execution named by the lock at run time; execution names are chosen then, so the grant covers executions of that one state machine only.',
        ]);
      }
      out.push(new PolicyStatement({ actions: ['states:StopExecution'], resources: executions }));
    }
    for (const { target, sync } of this.ecsTasks.values())
      out.push(...this.ecsStatements(stack, target, sync));
    return out;
  }

  /**
   * `ecs:runTask`: RunTask on the task definition's family (any revision: a deployment that adds a
   * revision must not fail the executions in flight) on the target's cluster only, and PassRole on
   * exactly its two roles, to ECS only. `.sync` adds what Step Functions needs to follow and stop
   * the task: DescribeTasks/StopTask on that cluster's tasks and its managed EventBridge rule.
   */
  private ecsStatements(stack: Stack, target: EcsTaskTarget, sync: boolean): PolicyStatement[] {
    const onCluster = { ArnEquals: { 'ecs:cluster': target.cluster.clusterArn } };
    const family = stack.formatArn({
      service: 'ecs',
      resource: 'task-definition',
      resourceName: `${target.taskDefinition.family}:*`,
    });
    this.wildcards.push([
      family,
      `ecs:RunTask of the ${target.taskDefinition.family} family: any revision, because a deployment that registers a new revision must not fail executions started with the previous one; limited to the one cluster by an ecs:cluster condition.`,
    ]);
    const out = [
      new PolicyStatement({ actions: ['ecs:RunTask'], resources: [family], conditions: onCluster }),
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [target.taskRole.roleArn, target.executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    ];
    if (!sync) return out;
    const tasks = stack.formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${target.cluster.clusterName}/*`,
    });
    this.wildcards.push([
      tasks,
      'ecs:runTask.sync must describe and stop the task it started; task ids are chosen by ECS at run time, so the grant covers tasks of the one cluster (also required by an ecs:cluster condition).',
    ]);
    out.push(
      new PolicyStatement({
        actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
        resources: [tasks],
        conditions: onCluster,
      }),
      new PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForECSTaskRule',
          }),
        ],
      }),
    );
    return out;
  }

  private placeholderParam(state: string, task: AslState, param: string): string {
    const value = task.Parameters?.[param];
    const m = typeof value === 'string' ? /^\$\{([A-Za-z0-9_]+)\}$/.exec(value) : null;
    if (!m)
      throw this.error(
        state,
        `must set Parameters.${param} to a single \${Placeholder} so its grant can be derived`,
      );
    return m[1] as string;
  }

  private bound(state: string, placeholder: string, kind: 'function', resource: string): HouseFunction;
  private bound(state: string, placeholder: string, kind: 'table', resource: string): ITable;
  private bound(state: string, placeholder: string, kind: 'topic', resource: string): ITopic;
  private bound(state: string, placeholder: string, kind: 'stateMachine', resource: string): StateMachine;
  private bound(
    state: string,
    placeholder: string,
    kind: 'ecsTask' | 'ecsCluster',
    resource: string,
  ): EcsTaskTarget;
  private bound(state: string, placeholder: string, kind: string, resource: string): unknown {
    const binding = this.bindings[placeholder] as Record<string, unknown> | undefined;
    if (!binding) throw this.error(state, `uses \${${placeholder}}, which has no binding`);
    if (!(kind in binding)) {
      const actual = Object.keys(binding)[0];
      throw this.error(
        state,
        `needs \${${placeholder}} bound to a ${kind} for ${resource}, but it is bound to a ${actual}`,
      );
    }
    return binding[kind];
  }

  private error(state: string, message: string): Error {
    return new Error(`Procedure ${this.procedure}: state "${state}" ${message}`);
  }
}

/** One folder per synthesis process for the minified definitions the assets are made from. */
let definitionsDir: string | undefined;

/** Writes the definition without indentation (what runs, nothing else) and returns its path. */
function minifiedDefinitionFile(name: string, definition: unknown): string {
  definitionsDir ??= mkdtempSync(join(tmpdir(), 'switchback-definitions-'));
  const body = JSON.stringify(definition);
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  const file = join(definitionsDir, `${name}-${hash}.asl.json`);
  writeFileSync(file, body);
  return file;
}
