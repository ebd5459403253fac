/**
 * Migrations on real Postgres: concurrent starts wait for each other on an
 * advisory lock, and that works with a pool of one connection
 * (DATABASE_POOL=1). The lock used to be held on a connection of the pool,
 * and the migrator waited for the pool's only connection forever.
 */
import { describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { openDatabase } from '../src/db/client'
import { freshPostgres, PG_URL } from './helpers'

describe.skipIf(!PG_URL)('migrations on Postgres', () => {
  test('a pool of one connection migrates, and two nodes starting at once both do', async () => {
    const { url, drop } = await freshPostgres()
    const a = await openDatabase({ url, dataDir: '/tmp', poolMax: 1 })
    const b = await openDatabase({ url, dataDir: '/tmp', poolMax: 1 })
    try {
      // before the fix this never settled: the test times out
      await Promise.all([a.migrate(), b.migrate()])
      const [row] = await a.rows<{ n: number }>(sql`select count(*)::int as n from messages`)
      expect(row!.n).toBe(0)
      // and again (a restart): nothing to do, still no wait
      await b.migrate()
      // no session keeps the lock
      const [held] = await a.rows<{ n: number }>(sql`select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`)
      expect(held!.n).toBe(0)
    } finally {
      await a.close()
      await b.close()
      await drop()
    }
  }, 30_000)
})
