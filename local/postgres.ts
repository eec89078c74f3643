import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Where Debian's postgresql-15 puts the server binaries (`pg_dump`/`pg_restore` are also on PATH). */
const CANDIDATE_BINDIRS = ['/usr/lib/postgresql/15/bin', '/usr/local/pgsql/bin'];
/** Names a folder with PostgreSQL 15's `initdb` and `pg_ctl`, before PATH and the known places. */
export const PG_BINDIR_ENV = 'SWITCHBACK_PG_BINDIR';

export class PostgresUnavailableError extends Error {
  override readonly name = 'PostgresUnavailableError';
}

/**
 * The folder of the PostgreSQL server binaries: `SWITCHBACK_PG_BINDIR` if set (it must hold them),
 * else the first folder on PATH that has `initdb` and `pg_ctl`, else Debian's and the source
 * build's default places.
 */
export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const has = (d: string) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl'));
  const named = env[PG_BINDIR_ENV];
  if (named) {
    if (has(named)) return named;
    throw new PostgresUnavailableError(`${PG_BINDIR_ENV}=${named} holds no initdb and pg_ctl`);
  }
  const onPath = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const dir = [...onPath, ...CANDIDATE_BINDIRS].find(has);
  if (!dir) {
    throw new PostgresUnavailableError(
      `PostgreSQL 15 server binaries (initdb, pg_ctl) not found on PATH, in ${CANDIDATE_BINDIRS.join(' or ')}, or in ${PG_BINDIR_ENV}. On Debian: apt-get install -y postgresql-15 postgresql-client-15; elsewhere set ${PG_BINDIR_ENV} to the folder that holds them.`,
    );
  }
  return dir;
}

export interface PostgresConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/**
 * A throwaway PostgreSQL 15 cluster on loopback with password (SCRAM) authentication, so the
 * tests exercise a real credential. As root it runs the server as the `postgres` user.
 */
export class ThrowawayPostgres {
  private constructor(
    readonly dir: string,
    readonly connection: PostgresConnection,
    private readonly binDir: string,
    private readonly asPostgres: boolean,
  ) {}

  static async start(options: { password?: string; database?: string } = {}): Promise<ThrowawayPostgres> {
    const binDir = postgresBinDir();
    const dir = mkdtempSync(join(tmpdir(), 'switchback-pg-'));
    const data = join(dir, 'data');
    const asPostgres = process.getuid?.() === 0;
    const password =
      options.password ?? `pw-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    mkdirSync(data, { recursive: true });
    if (asPostgres) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      for (const p of [dir, data, pwfile]) chownSync(p, uid, gid);
    }
    const port = await freePort();
    const run = (bin: string, args: string[]) => {
      const [cmd, argv] = asPostgres
        ? ['runuser', ['-u', 'postgres', '--', join(binDir, bin), ...args]]
        : [join(binDir, bin), args];
      const out = spawnSync(cmd as string, argv as string[], { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`${bin} failed (${out.status}): ${out.stderr || out.stdout}`);
    };
    run('initdb', [
      '-D',
      data,
      '-U',
      'app',
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '--no-sync',
      '-E',
      'UTF8',
      '--locale=C',
    ]);
    rmSync(pwfile);
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      'start',
    ]);
    const connection = {
      host: '127.0.0.1',
      port,
      user: 'app',
      password,
      database: options.database ?? 'postgres',
    };
    return new ThrowawayPostgres(dir, connection, binDir, asPostgres);
  }

  /** libpq environment for a client process (`PGPASSWORD` is how a task receives it from ECS secrets). */
  env(database = this.connection.database): Record<string, string> {
    return {
      PGHOST: this.connection.host,
      PGPORT: String(this.connection.port),
      PGUSER: this.connection.user,
      PGPASSWORD: this.connection.password,
      PGDATABASE: database,
    };
  }

  async stop(): Promise<void> {
    const args = ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop'];
    const [cmd, argv] = this.asPostgres
      ? ['runuser', ['-u', 'postgres', '--', join(this.binDir, 'pg_ctl'), ...args]]
      : [join(this.binDir, 'pg_ctl'), args];
    spawnSync(cmd as string, argv as string[], { encoding: 'utf8' });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
