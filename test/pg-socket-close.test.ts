/**
 * The postgres.js patch (patches/postgres@3.4.9.patch), where a connection
 * dies under a query nobody awaits; either way the error was uncaught, which
 * ends a Bun process (seen as `read ECONNRESET` and 57P01 in CI when Postgres
 * stopped or backends were terminated):
 *   - a fresh connection's first query, the array-types lookup, was never
 *     awaited: the patch catches it (the connection's own error path fails or
 *     retries the caller's query);
 *   - once a connection's socket has closed postgres.js drops every listener
 *     from it, and a late 'error' had none: the patch leaves a no-op listener.
 * Runs against real Postgres (TEST_DATABASE_URL).
 */
import { describe, expect, test } from 'bun:test'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
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
      const first = sockets[0]!
      // 'close' listeners run in the order added: postgres.js's (added at connect) has dropped the connection
      // when this one runs. The destroyed flag alone comes before the event, and a query sent in between
      // went to the dying connection and failed with CONNECTION_CLOSED (seen in CI on a loaded box)
      let closed = false
      first.once('close', () => {
        closed = true
      })
      const killer = postgres(PG_URL!, { max: 1, onnotice: () => {} })
      await killer`select pg_terminate_backend(${pid})`
      await killer.end({ timeout: 1 })
      await until(() => closed, 15_000, 'the terminated connection closed')
      // what Bun may still do with a closed socket
      expect(() => first.emit('error', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).not.toThrow()
      // and the client carries on over a new connection
      const [row] = await sql<{ one: number }[]>`select 1 as one`
      expect(row?.one).toBe(1)
    } finally {
      await sql.end({ timeout: 1 })
    }
  })

  test('a connection that dies during its array-types query: the query that opened it fails with the connection error, nothing is uncaught, the next one answers', async () => {
    const url = new URL(PG_URL!)
    // a TCP proxy to Postgres that resets the first connection as soon as the array-types query goes through it
    let resets = 0
    const proxy = createServer((client) => {
      const server = connect(Number(url.port || 5432), url.hostname)
      client.on('error', () => {})
      server.on('error', () => {})
      client.on('data', (chunk) => {
        if (resets === 0 && chunk.includes('typarray')) {
          resets++
          client.resetAndDestroy()
          server.destroy()
          return
        }
        server.write(chunk)
      })
      server.on('data', (chunk) => client.write(chunk))
      client.on('close', () => server.destroy())
      server.on('close', () => client.destroy())
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()))
    const through = new URL(PG_URL!)
    through.hostname = '127.0.0.1'
    through.port = String((proxy.address() as AddressInfo).port)
    const sql = postgres(through.toString(), { max: 1, onnotice: () => {} })
    try {
      // unpatched, the types query's rejection is also left unhandled, and bun test fails this test for it
      const failed = await sql`select 1 as one`.then(() => null, (err: { code?: string }) => err)
      expect(resets).toBe(1)
      expect(failed?.code === 'ECONNRESET' || String(failed?.code).startsWith('CONNECTION_')).toBe(true)
      const [row] = await sql<{ one: number }[]>`select 1 as one`
      expect(row?.one).toBe(1)
    } finally {
      await sql.end({ timeout: 1 })
      proxy.close()
    }
  })
})
