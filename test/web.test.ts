import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { startServer, type TestServer } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

let s: TestServer
beforeAll(async () => {
  s = await startServer()
})
afterAll(() => s.close())

test('GET / serves the self-contained web chat page', async () => {
  const res = await fetch(`${s.url}/`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toStartWith('text/html')
  const html = await res.text()
  for (const hook of ['id="login"', 'id="rooms"', 'id="new-room"', 'id="join-room"', 'id="log"', 'id="send"', 'id="typing"']) {
    expect(html).toContain(hook)
  }
  // the page talks to the contract's routes and socket, and loads nothing from elsewhere
  for (const use of ['/v1/auth/refresh', '/v1/rooms', '/v1/ws?token=', 'auto_subscribe=false', 'message.send', 'crypto.randomUUID()']) {
    expect(html).toContain(use)
  }
  expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//)
})

test('unknown paths next to the page stay JSON 404s', async () => {
  const res = await fetch(`${s.url}/nope`)
  expect(res.status).toBe(404)
  expect(((await res.json()) as { code: string }).code).toBe('not_found')
})
