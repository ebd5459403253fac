import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startGatewayDev, type GatewayDev } from '../scripts/gateway-dev'
import { expectError, expectStatus } from './contract'
import { api, startServer, TestSocket, type Api, type TestServer } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

const SECRET = 'dev-gateway-secret'
let chat: TestServer
let gw: GatewayDev
let through: Api

const as = (id: number, nickname: string, email = `u${id}@example.com`) => ({
  'x-dev-user-id': String(id), 'x-dev-nickname': encodeURIComponent(nickname), 'x-dev-email': email,
})

beforeAll(async () => {
  chat = await startServer({ AUTH_MODE: 'gateway', GATEWAY_SECRET: SECRET, RATE_MESSAGES: '0' })
  gw = startGatewayDev({ secret: SECRET, upstream: chat.url, port: 0 })
  through = api(gw.url)
})
afterAll(async () => {
  gw?.stop()
  await chat?.close()
})

describe('bun run gateway:dev, the reference gateway, end to end', () => {
  test('signed REST: the user is created on first sight with the gateway’s profile', async () => {
    const me = await through('GET', '/v1/users/me', { headers: as(9001, '하늘 🌤') })
    expectStatus(me, 200)
    expect(me.body).toMatchObject({ id: 9001, nickname: '하늘 🌤', email: 'u9001@example.com' })
  })

  test('a client cannot pose as someone: its own X-User-* headers are dropped', async () => {
    expectError(await through('GET', '/v1/users/me', { headers: { 'x-user-id': '1', 'x-gateway-signature': 'f'.repeat(64) } }), 401, 'unauthorized')
    // straight to the server, unsigned: refused too
    expectError(await chat.api('GET', '/v1/users/me', { headers: { 'x-user-id': '9001', 'x-user-nickname': 'x', 'x-user-email': 'e@x.io' } }), 401, 'unauthorized')
  })

  test('a placeholder user for an unseen id takes its real profile on its first request', async () => {
    const room = await through('POST', '/v1/rooms', { headers: as(9001, '하늘 🌤'), body: { type: 'group', name: 'gw', member_ids: [9002] } })
    expectStatus(room, 201)
    const before = await through('GET', '/v1/users/9002', { headers: as(9001, '하늘 🌤') })
    expect(before.body.nickname).toBe('user 9002')
    expectStatus(await through('GET', '/v1/users/me', { headers: as(9002, '바다', 'sea@example.com') }), 200)
    const members = await through('GET', `/v1/rooms/${room.body.id}/members`, { headers: as(9001, '하늘 🌤') })
    const sea = (members.body.members as { user: { id: number; nickname: string; email: string } }[]).find((m) => m.user.id === 9002)
    expect(sea?.user).toMatchObject({ nickname: '바다', email: 'sea@example.com' })
  })

  test('a signed WebSocket through the gateway: signed in with the form, ready, send, ack', async () => {
    const form = new FormData()
    for (const [k, v] of Object.entries({ id: '9003', nickname: 'gw socket', email: 'ws@example.com' })) form.append(k, v)
    const signIn = await fetch(`${gw.url}/gateway`, { method: 'POST', body: form, redirect: 'manual' })
    expect(signIn.status).toBe(303)
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!
    const room = await through('POST', '/v1/rooms', { headers: { cookie }, body: { type: 'group', name: 'ws' } })
    expectStatus(room, 201)
    const ws = new TestSocket(`${gw.url.replace('http', 'ws')}/v1/ws`, { headers: { cookie } })
    const ready = await ws.next('ready')
    expect(ready.user).toMatchObject({ id: 9003, nickname: 'gw socket' })
    ws.send({ type: 'message.send', room_id: room.body.id, content: 'through the gateway', client_msg_id: 'g1' })
    expect((await ws.next('ack')).message).toMatchObject({ content: 'through the gateway', sender: { id: 9003 } })
    ws.close()
  })
})

describe('docs/gateway.md signers, run as written', () => {
  const doc = readFileSync(join(import.meta.dir, '../docs/gateway.md'), 'utf8')
  const python = /```python\n([\s\S]*?)```/.exec(doc)?.[1]

  test.if(!!Bun.which('python3'))('the Python example signs headers the server accepts', async () => {
    expect(python).toBeDefined()
    const script = `${python}\nimport json\nprint(json.dumps(gateway_headers(${JSON.stringify(SECRET)}, 9101, "파이썬 🐍", "py@example.com")))\n`
    const run = Bun.spawnSync(['python3', '-c', script], { stdout: 'pipe', stderr: 'pipe' })
    expect(run.stderr.toString()).toBe('')
    const headers = JSON.parse(run.stdout.toString()) as Record<string, string>
    const me = await chat.api('GET', '/v1/users/me', { headers })
    expectStatus(me, 200)
    expect(me.body).toMatchObject({ id: 9101, nickname: '파이썬 🐍' })
  })

  test('the shell example (openssl) signs what the server computes', () => {
    if (!Bun.which('openssl')) return
    const ts = String(Math.floor(Date.now() / 1000))
    const r = Bun.spawnSync(['bash', '-c', `printf '%s\\n%s\\n%s\\n%s\\n%s' 42 '하늘' sky@example.com '' "${ts}" | openssl dgst -sha256 -hmac "${SECRET}" -hex | sed 's/^.* //'`])
    const want = new Bun.CryptoHasher('sha256', SECRET).update(`42\n하늘\nsky@example.com\n\n${ts}`).digest('hex')
    expect(r.stdout.toString().trim()).toBe(want)
  })
})
