import type { Server } from 'node:http';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';

/**
 * DynamoDB for the rehearsal: dynalite (an implementation of the DynamoDB API) on loopback,
 * reached with the real SDK client. The lock states' Parameters are sent as they are, so the
 * condition expressions in the ASL are evaluated by real DynamoDB semantics.
 */
export class LocalDynamo {
  private constructor(
    private readonly server: Server,
    readonly client: DynamoDBClient,
  ) {}

  static async start(): Promise<LocalDynamo> {
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }) as Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('dynalite did not bind');
    const client = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${address.port}`,
      region: 'local-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      // Step Functions' DynamoDB integration never surfaces a dropped keep-alive connection; the
      // SDK's own retry of such transient errors does the same here (conditions are never retried).
      maxAttempts: 3,
    });
    return new LocalDynamo(server, client);
  }

  async createLockTable(name: string): Promise<void> {
    await this.client.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }

  /** The change journal's table: `pk` environment, `sk` entry id (as lib/change-journal.ts creates it). */
  async createJournalTable(name: string): Promise<void> {
    await this.client.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }

  /**
   * Runs an `arn:aws:states:::dynamodb:<action>` task with its resolved Parameters. Errors are
   * renamed the way Step Functions names them (`DynamoDB.ConditionalCheckFailedException`).
   */
  async integration(action: string, parameters: unknown): Promise<unknown> {
    // biome-ignore lint/suspicious/noExplicitAny: Parameters are passed through to the SDK unchanged.
    const p = parameters as any;
    const command = {
      putItem: () => new PutItemCommand(p),
      getItem: () => new GetItemCommand(p),
      deleteItem: () => new DeleteItemCommand(p),
      updateItem: () => new UpdateItemCommand(p),
    }[action];
    if (!command) throw new Error(`Local DynamoDB integration does not support ${action}`);
    try {
      const out = await this.client.send(command() as never);
      const { $metadata: _m, ...rest } = out as unknown as Record<string, unknown>;
      return rest;
    } catch (err) {
      const e = err as Error;
      const renamed = new Error(e.message);
      renamed.name = `DynamoDB.${e.name}`;
      throw renamed;
    }
  }

  async getLock(table: string, environment: string): Promise<Record<string, string> | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: table, Key: { pk: { S: environment } }, ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    return Object.fromEntries(Object.entries(out.Item).map(([k, v]) => [k, v.S ?? JSON.stringify(v)]));
  }

  async close(): Promise<void> {
    this.client.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
