/**
 * `bun run gateway:dev`: a small reference API gateway for AUTH_MODE=gateway.
 *
 * It stands where your real gateway (or backend) would: it knows who the user
 * is, signs that identity as docs/gateway.md describes, and proxies REST and
 * WebSocket traffic to the chat server. Copy `signIdentity` into your own
 * gateway; it depends on nothing in this repository on purpose.
 *
 * Who the user is comes, for development, from either
 *  - the form at /gateway (it sets a cookie), so the web page works in a browser, or
 *  - the request headers X-Dev-User-Id, X-Dev-Nickname, X-Dev-Email, X-Dev-Avatar (curl, tests;
 *    nickname and avatar percent-encoded, as headers carry only ASCII).
 * Whatever X-User-* or X-Gateway-* headers a client sends are dropped.
 *
 * Environment: GATEWAY_SECRET (the chat server's), UPSTREAM (http://127.0.0.1:3000),
 * PORT (3100), HOST (127.0.0.1).
 */
import { createHmac } from 'node:crypto'
import type { Server, ServerWebSocket } from 'bun'

export type Identity = { id: number; nickname: string; email: string; avatar: string | null }

/** The six signed values of docs/gateway.md, as headers (nickname and avatar percent-encoded). */
export function signIdentity(secret: string, who: Identity, now = Date.now()): Record<string, string> {
  const ts = String(Math.floor(now / 1000))
  const sig = createHmac('sha256', secret)
    .update(`${who.id}\n${who.nickname}\n${who.email}\n${who.avatar ?? ''}\n${ts}`)
    .digest('hex')
  return {
    'x-user-id': String(who.id),
    'x-user-nickname': encodeURIComponent(who.nickname),
    'x-user-email': who.email,
    ...(who.avatar ? { 'x-user-avatar': encodeURIComponent(who.avatar) } : {}),
    'x-gateway-timestamp': ts,
    'x-gateway-signature': sig,
  }
}

/** The same values as WebSocket query parameters (user_id, nickname, email, profile_url, ts, sig). */
export function signedSocketQuery(secret: string, who: Identity, now = Date.now()): URLSearchParams {
  const h = signIdentity(secret, who, now)
  const q = new URLSearchParams({ user_id: h['x-user-id']!, nickname: who.nickname, email: who.email })
  if (who.avatar) q.set('profile_url', who.avatar)
  q.set('ts', h['x-gateway-timestamp']!)
  q.set('sig', h['x-gateway-signature']!)
  return q
}

const COOKIE = 'gw_identity'

function identityFrom(req: Request): Identity | null {
  const h = req.headers
  const fromHeaders = h.get('x-dev-user-id')
  if (fromHeaders) {
    try {
      const avatar = h.get('x-dev-avatar')
      return check({
        id: Number(fromHeaders), nickname: decodeURIComponent(h.get('x-dev-nickname') ?? ''), email: h.get('x-dev-email') ?? '',
        avatar: avatar ? decodeURIComponent(avatar) : null,
      })
    } catch {
      return null
    }
  }
  const cookie = (h.get('cookie') ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(`${COOKIE}=`))
  if (!cookie) return null
  try {
    return check(JSON.parse(Buffer.from(cookie.slice(COOKIE.length + 1), 'base64url').toString('utf8')) as Identity)
  } catch {
    return null
  }
}

function check(who: Identity): Identity | null {
  if (!Number.isSafeInteger(who.id) || who.id < 1 || !who.nickname || !who.email) return null
  return { id: who.id, nickname: String(who.nickname), email: String(who.email), avatar: who.avatar ? String(who.avatar) : null }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function formPage(who: Identity | null): Response {
  const v = (k: keyof Identity) => escapeHtml(String(who?.[k] ?? ''))
  const html = `<!doctype html><meta charset="utf-8"><title>Dev gateway</title>
<h1>Dev gateway</h1><p>${who ? `Signed in as <b>${v('nickname')}</b> (#${v('id')}).` : 'Nobody signed in.'}</p>
<form method="post" action="/gateway">
<label>User id <input name="id" type="number" min="1" required value="${v('id')}"></label><br>
<label>Nickname <input name="nickname" required value="${v('nickname')}"></label><br>
<label>Email <input name="email" type="email" required value="${v('email')}"></label><br>
<label>Avatar URL <input name="avatar" type="url" value="${v('avatar')}"></label><br>
<button>Sign in</button></form><p><a href="/">Open the chat</a></p>`
  return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; form-action 'self'" } })
}

type Relay = { who: Identity; path: string; upstream: WebSocket | null; pending: (string | Uint8Array)[] }

export type GatewayDev = { server: Server<Relay>; url: string; stop(): void }

/** Starts the dev gateway in front of `upstream`. */
export function startGatewayDev(o: { secret: string; upstream: string; port?: number; hostname?: string }): GatewayDev {
  const upstream = o.upstream.replace(/\/$/, '')
  const server = Bun.serve<Relay>({
    port: o.port ?? 3100,
    hostname: o.hostname ?? '127.0.0.1',
    async fetch(req, srv) {
      const url = new URL(req.url)
      if (url.pathname === '/gateway') {
        if (req.method !== 'POST') return formPage(identityFrom(req))
        const form = await req.formData()
        const who = check({
          id: Number(form.get('id')), nickname: String(form.get('nickname') ?? ''), email: String(form.get('email') ?? ''),
          avatar: form.get('avatar') ? String(form.get('avatar')) : null,
        })
        if (!who) return formPage(null)
        const value = Buffer.from(JSON.stringify(who)).toString('base64url')
        return new Response(null, { status: 303, headers: { location: '/', 'set-cookie': `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax` } })
      }
      const who = identityFrom(req)
      if (req.headers.get('upgrade')?.toLowerCase() === 'websocket') {
        if (!who) return new Response('sign in at /gateway first', { status: 401 })
        return srv.upgrade(req, { data: { who, path: url.pathname + url.search, upstream: null, pending: [] } })
          ? undefined
          : new Response('upgrade failed', { status: 400 })
      }
      const headers = new Headers(req.headers)
      for (const k of [...headers.keys()]) if (k.startsWith('x-user-') || k.startsWith('x-gateway-') || k.startsWith('x-dev-')) headers.delete(k)
      headers.delete('host')
      if (who) for (const [k, val] of Object.entries(signIdentity(o.secret, who))) headers.set(k, val)
      const res = await fetch(upstream + url.pathname + url.search, {
        method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer(), redirect: 'manual',
      })
      return new Response(res.body, { status: res.status, headers: res.headers })
    },
    websocket: {
      open(ws: ServerWebSocket<Relay>) {
        const { who, path } = ws.data
        const target = new URL(upstream.replace(/^http/, 'ws') + path)
        for (const k of ['token', 'user_id', 'nickname', 'email', 'profile_url', 'ts', 'sig']) target.searchParams.delete(k)
        for (const [k, val] of signedSocketQuery(o.secret, who)) target.searchParams.set(k, val)
        const up = new WebSocket(target)
        ws.data.upstream = up
        up.onopen = () => {
          for (const m of ws.data.pending) up.send(m)
          ws.data.pending = []
        }
        up.onmessage = (e) => ws.send(typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer))
        up.onclose = (e) => ws.close(e.code === 1005 || e.code === 1006 ? 1011 : e.code, e.reason)
      },
      message(ws, message) {
        const up = ws.data.upstream
        const data = typeof message === 'string' ? message : new Uint8Array(message)
        if (up?.readyState === WebSocket.OPEN) up.send(data)
        else ws.data.pending.push(data)
      },
      close(ws) {
        ws.data.upstream?.close()
      },
    },
  })
  return { server, url: server.url.href.replace(/\/$/, ''), stop: () => server.stop(true) }
}

if (import.meta.main) {
  const secret = process.env.GATEWAY_SECRET
  if (!secret) {
    console.error('GATEWAY_SECRET: required (the chat server must run with AUTH_MODE=gateway and the same secret)')
    process.exit(1)
  }
  const gw = startGatewayDev({
    secret,
    upstream: process.env.UPSTREAM ?? 'http://127.0.0.1:3000',
    port: Number(process.env.PORT ?? 3100),
    hostname: process.env.HOST ?? '127.0.0.1',
  })
  console.log(`dev gateway on ${gw.url} → ${process.env.UPSTREAM ?? 'http://127.0.0.1:3000'}; sign in at ${gw.url}/gateway`)
}
