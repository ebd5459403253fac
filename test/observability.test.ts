import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createChatServer, type ChatServer } from '../src/app'
import { loadConfig } from '../src/config'
import { createLogger } from '../src/lib/logger'
import { testDatabase } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** Request ids and the access log, read from the node's own log lines. */
describe('request ids and the access log (LOG_LEVEL=debug)', () => {
  const lines: Record<string, unknown>[] = []
  let chat: ChatServer
  let url: string
  let drop: () => Promise<void>

  beforeAll(async () => {
    const db = await testDatabase()
    drop = db.drop
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, JWT_SECRET: 'test-secret', LOG_LEVEL: 'debug' })
    chat = await createChatServer(config, createLogger('debug', { node: 'obs' }, { write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }))
    url = chat.listen().url.href.replace(/\/$/, '')
  })
  afterAll(async () => {
    await chat.close()
    await drop()
  })

  const accessLines = (id: string) => lines.filter((l) => l.msg === 'request' && l.req_id === id)

  test('a well-formed X-Request-Id is kept and echoed; the access line carries it', async () => {
    const r = await fetch(`${url}/healthz`, { headers: { 'x-request-id': 'lb-1234.abc' } })
    expect(r.headers.get('x-request-id')).toBe('lb-1234.abc')
    expect(accessLines('lb-1234.abc')).toEqual([
      expect.objectContaining({ level: 'debug', method: 'GET', path: '/healthz', status: 200, node: 'obs', ms: expect.any(Number) }),
    ])
  })

  test('a missing or malformed id is replaced by a fresh UUID', async () => {
    const a = await fetch(`${url}/healthz`)
    const b = await fetch(`${url}/healthz`, { headers: { 'x-request-id': 'bad id\twith spaces' } })
    for (const r of [a, b]) expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'))
  })

  test('errors answer with the id too, and the access line redacts credentials in the query', async () => {
    const r = await fetch(`${url}/v1/rooms?token=eyJsecret.part.here`, { headers: { 'x-request-id': 'err-1' } })
    expect(r.status).toBe(401)
    expect(r.headers.get('x-request-id')).toBe('err-1')
    const [line] = accessLines('err-1')
    expect(line).toMatchObject({ status: 401, path: '/v1/rooms?token=***' })
    expect(JSON.stringify(lines)).not.toContain('eyJsecret')
  })
})
