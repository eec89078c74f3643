import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  PutItemCommand,
  paginateQuery,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { parseOrThrow } from '../config';
import { JournalEntryInvalidError } from '../errors';
import { JournalEntry, type JournalStore } from '../journal';

/**
 * The journal table: `pk` = environment, `sk` = entry id (`<at>#<source>#<event id>`, so a query
 * by key range is a query by time), the entry itself as JSON in `entry`, `expiresAt` the TTL
 * attribute. A put is conditional on the key being new: a redelivered event changes nothing.
 */
export class DynamoJournalStore implements JournalStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  async put(entry: JournalEntry): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            pk: { S: entry.environment },
            sk: { S: entry.entryId },
            at: { S: entry.at },
            subject: { S: entry.subject },
            entry: { S: JSON.stringify(entry) },
            expiresAt: { N: String(entry.expiresAt) },
          },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return true;
    } catch (err) {
      if (
        err instanceof ConditionalCheckFailedException ||
        (err as Error).name === 'ConditionalCheckFailedException'
      )
        return false;
      throw err;
    }
  }

  /** The newest entry of an environment (one key-ordered read, newest first), if any. */
  async latest(environment: string): Promise<JournalEntry | undefined> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: environment } },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = out.Items?.[0];
    if (!item?.entry?.S) return undefined;
    return parseOrThrow(
      JournalEntry,
      JSON.parse(item.entry.S),
      JournalEntryInvalidError,
      `journal entry ${item.sk?.S}`,
    );
  }

  async list(environment: string, range: { since?: Date; until?: Date } = {}): Promise<JournalEntry[]> {
    // Entry ids start with the ISO time, so the time range is a key range ("~" sorts after any id).
    const low = range.since ? range.since.toISOString() : '0';
    const high = range.until ? range.until.toISOString() : '~';
    const entries: JournalEntry[] = [];
    for await (const page of paginateQuery(
      { client: this.client },
      {
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
        ExpressionAttributeValues: { ':pk': { S: environment }, ':low': { S: low }, ':high': { S: high } },
        ConsistentRead: true,
      },
    )) {
      for (const item of page.Items ?? []) {
        const raw = item.entry?.S;
        if (!raw) continue;
        const entry = parseOrThrow(
          JournalEntry,
          JSON.parse(raw),
          JournalEntryInvalidError,
          `journal entry ${item.sk?.S}`,
        );
        if (!range.until || entry.at < range.until.toISOString()) entries.push(entry);
      }
    }
    return entries;
  }
}
