// Baseline: what a Node team picks. Socket.IO 4 on Node with the Redis
// adapter, JWT (HS256) checked in a middleware, and one INSERT per message
// into Postgres before the broadcast and the ack. Users and rooms live in
// memory (they are seeding, not measured); it answers the same REST calls as
// our server so the same generator drives it.
//
// Client → server: emit('message.send', {room_id, content, client_msg_id}, ack)
//   ack({message}) after the INSERT, or ack({error: {code}}).
// Server → room: emit('message.created', {message}) to `room:<id>`.
// CONNECT auth: {token, room_id?}: without room_id the socket joins all the user's rooms.
//
// env: PORT, HOST (loopback only), DATABASE_URL (postgres), REDIS_URL, JWT_SECRET,
//      MAX_ROOM_MEMBERS (100), PG_POOL (20).
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import { createAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { Server } from 'socket.io'

const port = Number(process.env.PORT ?? 3200)
const host = process.env.HOST ?? '127.0.0.1'
if (!host.startsWith('127.')) throw new Error(`HOST must be a loopback address, not ${host}`)
const maxMembers = Number(process.env.MAX_ROOM_MEMBERS ?? 100)
const secret = process.env.JWT_SECRET ?? 'socketio-baseline-secret'
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
if (!process.env.DATABASE_URL) throw new Error('DATABASE_URL is required')

const sql = postgres(process.env.DATABASE_URL, { max: Number(process.env.PG_POOL ?? 20), onnotice: () => {} })
await sql`create table if not exists messages (
  id bigserial primary key, room_id bigint not null, sender_id bigint, type text not null default 'text',
  content text not null, client_msg_id text, created_at timestamptz not null default now())`

// ---- tokens ---------------------------------------------------------------------------------------
const b64 = (b) => Buffer.from(b).toString('base64url')
const header = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
function sign(sub) {
  const payload = b64(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 3600 }))
  const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
  return `${header}.${payload}.${sig}`
}
function verify(token) {
  if (typeof token !== 'string') return null
  const [h, p, s] = token.split('.')
  if (!h || !p || !s) return null
  const want = createHmac('sha256', secret).update(`${h}.${p}`).digest()
  const got = Buffer.from(s, 'base64url')
  if (got.length !== want.length || !timingSafeEqual(got, want)) return null
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
  if (claims.exp < Date.now() / 1000) return null
  return users[claims.sub - 1] ?? null
}

// ---- memory: users and rooms ----------------------------------------------------------------------
const users = []
const rooms = new Map()
const roomJson = (r) => ({
  id: r.id, type: 'group', name: r.name, visibility: 'public', created_by: r.createdBy,
  member_count: r.members.size, max_members: maxMembers,
})

function send(res, status, body) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
const fail = (res, status, code, detail) => send(res, status, { detail, code })

async function readJson(req) {
  let s = ''
  for await (const chunk of req) s += chunk
  return s ? JSON.parse(s) : {}
}

async function rest(req, res) {
  const url = new URL(req.url, 'http://x')
  const p = url.pathname
  if (p === '/readyz' || p === '/healthz') return send(res, 200, { status: 'ok' })
  if (req.method === 'POST' && p === '/v1/auth/register') {
    const b = await readJson(req)
    const u = { id: users.length + 1, email: b.email, nickname: b.nickname }
    users.push(u)
    return send(res, 201, { user: u, access: sign(u.id), refresh: '' })
  }
  const me = verify((req.headers.authorization ?? '').replace(/^Bearer /, ''))
  if (!me) return fail(res, 401, 'unauthorized', 'bad token')
  if (req.method === 'POST' && p === '/v1/rooms') {
    const b = await readJson(req)
    const r = { id: rooms.size + 1, name: b.name ?? '', members: new Set([me.id, ...(b.member_ids ?? [])]), createdBy: me.id }
    if (r.members.size > maxMembers) return fail(res, 422, 'room_full', 'too many members')
    rooms.set(r.id, r)
    return send(res, 201, roomJson(r))
  }
  const m = /^\/v1\/rooms\/(\d+)(\/[a-z]+)?$/.exec(p)
  const room = m ? rooms.get(Number(m[1])) : undefined
  if (!m || !room) return fail(res, 404, 'not_found', 'no such route or room')
  const sub = m[2] ?? ''
  const memberList = () => ({ members: [...room.members].map((id) => ({ user: users[id - 1], role: 'member' })) })
  if (req.method === 'GET' && sub === '') return send(res, 200, roomJson(room))
  if (req.method === 'GET' && sub === '/members') return send(res, 200, memberList())
  if (req.method === 'POST' && sub === '/join') {
    if (room.members.has(me.id)) return send(res, 200, roomJson(room))
    if (room.members.size >= maxMembers) return fail(res, 422, 'room_full', 'room is full')
    room.members.add(me.id)
    return send(res, 200, roomJson(room))
  }
  if (req.method === 'POST' && sub === '/members') {
    const ids = (await readJson(req)).user_ids ?? []
    const added = new Set(ids.filter((id) => !room.members.has(id)))
    if (room.members.size + added.size > maxMembers) return fail(res, 422, 'room_full', 'room is full')
    for (const id of added) room.members.add(id)
    return send(res, 200, memberList())
  }
  return fail(res, 404, 'not_found', 'no such route')
}

// ---- socket.io ------------------------------------------------------------------------------------
const http = createServer((req, res) => {
  rest(req, res).catch((e) => fail(res, 500, 'internal', String(e)))
})
const io = new Server(http, { transports: ['websocket'], serveClient: false })
const pub = new Redis(redisUrl)
const sub = pub.duplicate()
io.adapter(createAdapter(pub, sub, { key: `bench-sio-${process.pid}` }))

io.use((socket, next) => {
  const user = verify(socket.handshake.auth?.token)
  if (!user) return next(new Error('unauthorized'))
  const roomId = socket.handshake.auth?.room_id
  if (roomId !== undefined && !rooms.get(Number(roomId))?.members.has(user.id)) return next(new Error('not_member'))
  socket.data.user = user
  socket.data.rooms = roomId !== undefined ? [Number(roomId)] : [...rooms.values()].filter((r) => r.members.has(user.id)).map((r) => r.id)
  next()
})

io.on('connection', (socket) => {
  const user = socket.data.user
  socket.join(socket.data.rooms.map((id) => `room:${id}`))
  socket.on('message.send', async (p, ack) => {
    const reply = typeof ack === 'function' ? ack : () => {}
    const room = rooms.get(Number(p?.room_id))
    if (!room || !room.members.has(user.id)) return reply({ error: { code: 'not_member' } })
    if (typeof p.content !== 'string' || !p.content.trim()) return reply({ error: { code: 'validation' } })
    try {
      const [row] = await sql`insert into messages (room_id, sender_id, content, client_msg_id)
        values (${room.id}, ${user.id}, ${p.content}, ${p.client_msg_id ?? null}) returning id, created_at`
      const message = {
        id: Number(row.id), room_id: room.id, sender: { id: user.id, nickname: user.nickname, avatar_url: null },
        type: 'text', content: p.content, client_msg_id: p.client_msg_id ?? null, created_at: row.created_at,
      }
      io.to(`room:${room.id}`).emit('message.created', { message })
      reply({ message })
    } catch (e) {
      reply({ error: { code: 'unavailable', detail: String(e) } })
    }
  })
})

http.listen(port, host, () => console.log(`socket.io baseline on ${host}:${port}`))

let stopping = false
process.on('SIGTERM', async () => {
  if (stopping) return
  stopping = true
  io.close()
  await Promise.allSettled([sql.end({ timeout: 2 }), pub.quit(), sub.quit()])
  process.exit(0)
})
