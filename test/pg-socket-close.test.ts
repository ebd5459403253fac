/**
 * The postgres.js patch (patches/postgres@3.4.9.patch): once a connection's
 * socket has closed, postgres.js drops every listener from it. Under Bun a
 * closed socket can still emit 'error' (seen as an uncaught `read ECONNRESET`
 * when Postgres stopped mid-burst), and an 'error' with no listener is an
 * uncaught exception that ends the process. The patch leaves a no-op listener.
 * Runs against real Postgres (TEST_DATABASE_URL).
 */
import { describe, expect, test } from 'bun:test'
import { connect, type Socket } from 'node:net'
import postgres from 'postgres'
import { PG_URL, until } from './helpers'

if (PG_URL) describe('a postgres.js connection whose socket closed', () => {
  test('a late socket error after the close is not uncaught', async () => {
    const url = new URL(PG_URL!)
    const sockets: Socket[] = []
    // postgres.js's `socket` option (documented, missing from its type definitions, hence a variable
    // rather than a literal): we open the TCP connection, so the test holds the very socket it uses
    const options = {
      max: 1, onnotice: () => {},
      socket: () => new Promise<Socket>((resolve, reject) => {
        const s = connect(Number(url.port || 5432), url.hostname, () => resolve(s))
        s.once('error', reject)
        sockets.push(s)
      }),
    }
    const sql = postgres(PG_URL!, options)
    try {
      const [backend] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`
      const pid = backend!.pid
      const killer = postgres(PG_URL!, { max: 1, onnotice: () => {} })
      await killer`select pg_terminate_backend(${pid})`
      await killer.end({ timeout: 1 })
      const first = sockets[0]!
      await until(() => first.destroyed, 15_000, 'the terminated connection closed')
      // what Bun may still do with a closed socket
      expect(() => first.emit('error', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).not.toThrow()
      // and the client carries on over a new connection
      const [row] = await sql<{ one: number }[]>`select 1 as one`
      expect(row?.one).toBe(1)
    } finally {
      await sql.end({ timeout: 1 })
    }
  })
})
