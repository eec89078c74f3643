/**
 * PostgreSQL with pgvector for tests, rehearsals and the benchmark: PGlite (PostgreSQL compiled to
 * WebAssembly) with its vector extension, served over a TCP socket by `@electric-sql/pglite-socket`
 * so the steps reach it with the ordinary `pg` client, as they reach a real server.
 *
 * Two things to know (see ../shared/TOOLCHAIN.md): COPY over the socket does not work, so the
 * migration writes with batched `INSERT ... SELECT FROM unnest(...)`; and every connection shares
 * PGlite's one session, with transactions kept to one connection at a time, so session state such
 * as the RLS context is only ever set with transaction-local `SET LOCAL` / `set_config(..., true)`.
 * The socket server does not check passwords: the URL's password is still a secret to the steps.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export class LocalPgvector {
  private constructor(
    readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    readonly port: number,
  ) {}

  static async start(options: { maxConnections?: number } = {}): Promise<LocalPgvector> {
    const db = await PGlite.create({ extensions: { vector } });
    await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
    const server = new PGLiteSocketServer({
      db,
      port: 0,
      host: '127.0.0.1',
      maxConnections: options.maxConnections ?? 16,
    });
    await server.start();
    const port = Number(server.getServerConn().split(':').pop());
    return new LocalPgvector(db, server, port);
  }

  /** A connection URL for the `pg` client (the password is not checked, only carried). */
  url(password: string, user = 'switchback'): string {
    return `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/postgres`;
  }

  async close(): Promise<void> {
    await this.server.stop();
    await this.db.close();
  }
}

export interface TargetSchemaOptions {
  readonly dimension: number;
  readonly table?: string;
  /** An HNSW index with this operator class (e.g. vector_cosine_ops); none: exact search. */
  readonly indexOpclass?: string;
  readonly appRole?: string;
  readonly orgSetting?: string;
}

/**
 * Seed 002's target: `memory_fragments` with a pgvector `embedding` and the Qdrant id in
 * `vector_id` (unique: the migration's upsert key), `attachments` with file data or a storage
 * path, and row level security by organisation for the application's role. Drops what a previous
 * test left.
 */
export function targetSchemaSql(options: TargetSchemaOptions): string {
  const table = options.table ?? 'memory_fragments';
  const role = options.appRole ?? 'app_user';
  const setting = options.orgSetting ?? 'app.current_org';
  return `
    DROP TABLE IF EXISTS ${table};
    DROP TABLE IF EXISTS attachments;
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} NOLOGIN; END IF;
    END $$;
    CREATE TABLE ${table} (
      id bigserial PRIMARY KEY,
      org_id text NOT NULL,
      vector_id text UNIQUE,
      embedding vector(${options.dimension}),
      payload jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE attachments (
      id bigserial PRIMARY KEY,
      org_id text NOT NULL,
      file_data bytea,
      storage_path text
    );
    ${options.indexOpclass ? `CREATE INDEX ${table}_embedding_idx ON ${table} USING hnsw (embedding ${options.indexOpclass});` : ''}
    GRANT SELECT, INSERT, UPDATE ON ${table}, attachments TO ${role};
    ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
    ALTER TABLE attachments ENABLE ROW LEVEL SECURITY;
    CREATE POLICY org_isolation ON ${table} USING (org_id = current_setting('${setting}', true));
    CREATE POLICY org_isolation ON attachments USING (org_id = current_setting('${setting}', true));
  `;
}
