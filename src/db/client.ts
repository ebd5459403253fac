import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { fillPlaceholders, type SQL } from 'drizzle-orm'
import { PgDialect, type PgDatabase, type PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import * as schema from './schema'
import { AdvisoryLock } from '../lib/limits'

export type Schema = typeof schema
/** The drizzle database, whichever driver is under it. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>
/** A database or an open transaction: anything that can run a statement. */
export type Executor = Pick<Db, 'execute'>

export type Database = {
  readonly db: Db
  readonly kind: 'postgres' | 'pglite'
  /** Runs raw SQL and returns its rows, the same shape on both drivers. */
  rows<T>(query: SQL, ex?: Executor): Promise<T[]>
  /**
   * A statement built once: its text is compiled now, and each call only
   * fills its `sql.placeholder(name)`s from `values` and runs it (prepared on
   * Postgres). For the hottest statements, where turning drizzle's `sql`
   * into text on every call costs more than running it.
   */
  compile<T, P extends Record<string, unknown>>(query: SQL): (values: P) => Promise<T[]>
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>
  /** Applies the migrations in `drizzle/`. */
  migrate(): Promise<void>
  close(): Promise<void>
}

const migrationsFolder = join(import.meta.dir, '../../drizzle')

export type DatabaseOptions = {
  /** postgres://… or memory://; undefined = PGlite under dataDir */
  url?: string
  dataDir: string
  /** postgres.js pool size */
  poolMax?: number
  /** false: no named prepared statements (PgBouncer in transaction mode) */
  prepare?: boolean
  /** every statement sent to Postgres, for diagnostics (counting a route's queries) */
  onQuery?: (sql: string) => void
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.url?.startsWith('postgres')) return openPostgres(opts.url, opts.poolMax ?? 10, opts.prepare ?? true, opts.onQuery)
  return openPglite(opts.url === 'memory://' ? undefined : join(opts.dataDir, 'pg'))
}

async function rowsOf<T>(ex: Executor, query: SQL): Promise<T[]> {
  const res = (await ex.execute(query)) as unknown as T[] | { rows: T[] }
  return Array.isArray(res) ? res : res.rows
}

async function openPostgres(url: string, max: number, prepare: boolean, onQuery?: (sql: string) => void): Promise<Database> {
  const client = postgres(url, {
    max,
    prepare,
    ...(onQuery ? { debug: (_conn: number, query: string) => onQuery(query) } : {}),
    // a database that is down answers at once (connection refused); one that does not answer at all fails in 2 s,
    // so the writer's retry budget and /readyz are not held by a 30 s default. Broken connections are replaced on next use.
    connect_timeout: 2,
    // reconnect attempts after failures wait at most 250 ms (the default grows to 20 s): back within a ping of a restart
    backoff: (retries: number) => Math.min(0.025 * 2 ** retries, 0.25),
    onnotice: () => {},
    // ids and seqs are int8: safe integers by contract, so numbers, not strings
    types: { int8: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) } },
    connection: { TimeZone: 'UTC', application_name: 'chat-server' },
  })
  const pgDb = drizzlePostgres(client, { schema })
  const db = pgDb as unknown as Db
  const dialect = new PgDialect()
  const prepared = async <T>(q: SQL) => {
    const { sql: text, params } = dialect.sqlToQuery(q)
    return (await client.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare })) as unknown as T[]
  }
  return {
    db,
    kind: 'postgres',
    // outside a transaction every raw statement is prepared: their texts are fixed (lists travel as one JSON parameter)
    rows: (q, ex = db) => (ex === db ? prepared(q) : rowsOf(ex, q)),
    compile: <T, P extends Record<string, unknown>>(q: SQL) => {
      const { sql: text, params } = dialect.sqlToQuery(q)
      return async (values: P) =>
        (await client.unsafe(text, fillPlaceholders(params, values) as postgres.ParameterOrJSON<never>[], { prepare })) as unknown as T[]
    },
    ping: async () => {
      await client`select 1`
    },
    migrate: async () => {
      // concurrent starts of several nodes on one database wait for each other. The lock is held on a connection
      // of its own: the migrator takes one from the pool, and with DATABASE_POOL=1 a lock held on the pool's only
      // connection waited for itself forever (the node never started)
      const lock = postgres(url, { max: 1, prepare, onnotice: () => {}, connect_timeout: 2, connection: { application_name: 'chat-server-migrate' } })
      try {
        await lock`select pg_advisory_lock(${AdvisoryLock.migrate})`
        await migratePostgres(pgDb, { migrationsFolder })
      } finally {
        // ending the session releases the lock in any case
        await lock`select pg_advisory_unlock(${AdvisoryLock.migrate})`.catch(() => {})
        await lock.end({ timeout: 1 })
      }
    },
    close: () => client.end({ timeout: 2 }),
  }
}

async function openPglite(dir: string | undefined): Promise<Database> {
  if (dir) mkdirSync(dir, { recursive: true })
  const client = new PGlite(dir ?? 'memory://', { extensions: { pg_trgm } })
  await client.waitReady
  const db = drizzlePglite(client, { schema }) as unknown as Db
  let closed = false
  return {
    db,
    kind: 'pglite',
    rows: (q, ex = db) => rowsOf(ex, q),
    compile: <T, P extends Record<string, unknown>>(q: SQL) => {
      // drizzle's own prepared query: the same parsers (and errors) as `rows`
      const prepared = db._.session.prepareQuery(new PgDialect().sqlToQuery(q), undefined, undefined, false)
      return async (values: P) => ((await prepared.execute(values)) as { rows: T[] }).rows
    },
    ping: async () => {
      if (closed) throw new Error('database closed')
      await client.query('select 1')
    },
    migrate: () => migratePglite(drizzlePglite(client), { migrationsFolder }),
    close: async () => {
      closed = true
      await client.close()
    },
  }
}
