import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { connect } from 'node:net'
import { startServer, type TestServer } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

let s: TestServer
beforeAll(async () => {
  s = await startServer()
}, 90_000)
afterAll(() => s?.close())

/** Sends raw bytes, returns the whole answer (the server closes HTTP/1.0 connections). */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(Number(new URL(s.url).port), '127.0.0.1', () => c.write(request))
    let out = ''
    c.on('data', (d: Buffer) => (out += d.toString()))
    c.on('end', () => resolve(out))
    c.on('error', reject)
  })
}

// a load balancer's default health check is exactly this (HAProxy's `option httpchk GET /readyz`)
test('HTTP/1.0 with no Host header is 400 with the error body, not 500', async () => {
  for (const path of ['/readyz', '/healthz', '/v1/ws', '/v1/users/me']) {
    const res = await raw(`GET ${path} HTTP/1.0\r\n\r\n`)
    expect(res).toStartWith('HTTP/1.1 400')
    expect(JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4))).toEqual({ detail: 'The request has no Host header.', code: 'bad_request' })
  }
  expect(await raw('GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n')).toStartWith('HTTP/1.1 200')
})

test('a short Host (x, lb, api) reaches the routes: 200 and 401, not 404', async () => {
  for (const host of ['x', 'lb', 'api', 'api:80']) {
    expect(await raw(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)).toStartWith('HTTP/1.1 200')
    const body = JSON.stringify({ email: 'nobody@example.com', password: 'wrong-password' })
    const res = await raw(
      `POST /v1/auth/login HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    )
    expect(res).toStartWith('HTTP/1.1 401')
  }
})
