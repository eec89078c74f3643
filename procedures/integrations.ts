/**
 * The facts about Task resources and placeholders that the builder, the stack's IAM derivation
 * (`lib/procedure.ts`), the local engine and the tests all rely on, written once.
 */

/** `provider-rollback` -> `ProviderRollback`: the one kebab-to-Pascal rule of placeholders and ids. */
export function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}

/** `check-health` -> `CheckHealthFunctionArn`, the placeholder a Lambda Task uses as its Resource. */
export function functionPlaceholder(step: string): string {
  return `${pascal(step)}FunctionArn`;
}

/** `provider-rollback` -> `ProviderRollbackStateMachineArn`, what a nested execution names. */
export function stateMachinePlaceholder(procedure: string): string {
  return `${pascal(procedure)}StateMachineArn`;
}

/** A `${Placeholder}` in a definition. */
export const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

/** The optimized and SDK integrations the procedures use, as their Task `Resource` ARNs. */
export const RESOURCE = {
  dynamodb: (action: 'putItem' | 'getItem' | 'deleteItem' | 'updateItem') =>
    `arn:aws:states:::dynamodb:${action}`,
  snsPublish: 'arn:aws:states:::sns:publish',
  startExecutionSync: 'arn:aws:states:::states:startExecution.sync:2',
  stopExecution: 'arn:aws:states:::aws-sdk:sfn:stopExecution',
  lambdaInvokeWaitForTaskToken: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
  ecsRunTaskSync: 'arn:aws:states:::ecs:runTask.sync',
} as const;

/** Patterns that recognise each integration, with its variants (what the IAM derivation accepts). */
export const INTEGRATION = {
  dynamodb: /^arn:aws:states:::dynamodb:(putItem|getItem|deleteItem|updateItem)$/,
  /** Group 1 is present for the `.sync` forms, which must also describe and stop the child. */
  startExecution: /^arn:aws:states:::states:startExecution(\.sync(:2)?)?$/,
  snsPublish: /^arn:aws:states:::sns:publish$/,
  /** Lambda through the optimized integration (`lambda:invoke`, `.waitForTaskToken` for callbacks). */
  lambdaInvoke: /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/,
  stopExecution: /^arn:aws:states:::aws-sdk:sfn:stopExecution$/,
  ecsRunTask: /^arn:aws:states:::ecs:runTask(\.sync)?$/,
} as const;
