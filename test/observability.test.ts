import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createChatServer, type ChatServer } from '../src/app'
import { loadConfig } from '../src/config'
import { createLogger } from '../src/lib/logger'
import { spawnNode, testDatabase, until, type NodeProcess } from './helpers'

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

/**
 * Tracing: a node started with OTEL_EXPORTER_OTLP_ENDPOINT exports a span per
 * request to a collector (here a local OTLP/HTTP receiver). A separate process,
 * because the OpenTelemetry SDK registers itself globally.
 */
describe('OpenTelemetry tracing (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  type OtlpSpan = { name: string; traceId: string; attributes?: { key: string; value: Record<string, unknown> }[] }
  type OtlpExport = { resourceSpans?: { resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[] }
  const exports: OtlpExport[] = []
  let collector: ReturnType<typeof Bun.serve>
  let node: NodeProcess
  let drop: () => Promise<void>

  beforeAll(async () => {
    collector = Bun.serve({
      port: 0, hostname: '127.0.0.1',
      fetch: async (req) => {
        if (req.method === 'POST' && new URL(req.url).pathname === '/v1/traces') exports.push((await req.json()) as OtlpExport)
        return Response.json({})
      },
    })
    const db = await testDatabase()
    drop = db.drop
    node = await spawnNode({
      DATABASE_URL: db.url.startsWith('memory') ? 'memory://' : db.url, NODE_ENV: 'development',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.port}`, OTEL_SERVICE_NAME: 'chat-test', OTEL_BSP_SCHEDULE_DELAY: '100',
    })
  })
  afterAll(async () => {
    node?.proc.kill()
    await node?.proc.exited
    collector?.stop(true)
    await drop?.()
  })

  const spans = () => exports.flatMap((e) => (e.resourceSpans ?? []).flatMap((r) => (r.scopeSpans ?? []).flatMap((s) => s.spans ?? [])))
  const attr = (s: OtlpSpan, key: string) => s.attributes?.find((a) => a.key === key)?.value

  test('a request becomes a span with its route and status, under the configured service name; probes are not traced', async () => {
    await fetch(`${node.url}/healthz`)
    const r = await fetch(`${node.url}/v1/rooms/12345`, { headers: { 'x-request-id': 'traced-1' } })
    expect(r.status).toBe(401)
    await until(() => spans().some((s) => attr(s, 'http.response.status_code')?.intValue === 401), 30_000, 'the request span to reach the collector')
    const span = spans().find((s) => attr(s, 'http.response.status_code')?.intValue === 401)!
    expect(span.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(span.name).toContain('/v1/rooms/:id')
    const service = exports.flatMap((e) => e.resourceSpans ?? []).flatMap((rs) => rs.resource?.attributes ?? []).find((a) => a.key === 'service.name')
    expect(service?.value.stringValue).toBe('chat-test')
    expect(spans().some((s) => s.name.includes('healthz'))).toBe(false)
  })

  test('a malformed endpoint stops the start with the variable\'s name', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/)
  })
})
