/**
 * A database that goes away under a running node (closed under it, so on
 * both backends): sends answer 503 `unavailable`, never 500 or silence; the
 * writer turns down and /readyz says so; reads answer 503 too.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { backend, groupRoom, register, startServer, until, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

describe(`a database lost under a running node, on ${backend}`, () => {
  let s: TestServer
  let alice: TestUser
  let roomId: number

  beforeAll(async () => {
    s = await startServer({ RATE_MESSAGES: '0' })
    alice = await register(s.api, 'downalice')
    roomId = (await groupRoom(s.api, alice)).id
  })
  // the database is closed already: closing it again may complain
  afterAll(() => s.close().catch(() => {}))

  test('sends get 503 unavailable, the writer is down, /readyz is 503, reads are 503', async () => {
    const send = (n: number) => s.api('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { content: `m${n}`, client_msg_id: `d${n}` } })
    expect((await send(0)).status).toBe(201)
    expect((await s.api('GET', '/readyz')).status).toBe(200)
    expect(s.chat.writer.healthy).toBe(true)

    await s.chat.database.close()
    const first = await send(1)
    expect(first.status).toBe(503)
    expect(first.body.code).toBe('unavailable')
    await until(() => !s.chat.writer.healthy, 10_000, 'the writer down')
    const later = await Promise.all([2, 3, 4].map(send))
    expect(later.map((r) => [r.status, r.body.code])).toEqual([[503, 'unavailable'], [503, 'unavailable'], [503, 'unavailable']])
    const ready = await s.api('GET', '/readyz')
    expect(ready.status).toBe(503)
    expect(ready.body.code).toBe('unavailable')
    const read = await s.api('GET', `/v1/rooms/${roomId}/messages`, { token: alice.token })
    expect([read.status, read.body.code]).toEqual([503, 'unavailable'])
  }, 30_000)
})
