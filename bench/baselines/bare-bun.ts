/**
 * Baseline: a bare Bun pub/sub server. No auth, no database: the token is
 * the user id in clear, rooms live in memory, and `message.send` is answered
 * with a per-room seq, one `server.publish` to the room's topic and an `ack`.
 * It speaks the frames of API.md (ready, message.send → ack + message.created)
 * and the REST calls the bench seeds with, so the same generator drives it.
 *
 * BARE_FRAME picks what it publishes:
 * - `message` (default): a `message.created` frame of the same shape and size
 *   as our server's (every field of API.md's Message), so that a latency or
 *   CPU ratio against it isolates the server's own work, not frame size;
 * - `minimal`: `{"type":"message.created","message":{"room_id","seq","content"}}`
 *   only (the cheapest frame the generator still counts), for comparison.
 *
 * Its listening socket gets the accept queue our server sets by default
 * (LISTEN_BACKLOG, 4096 here too), so a connect storm compares the servers'
 * work, not Bun's fixed 512 against ours.
 *
 * env: PORT, HOST (loopback only), MAX_ROOM_MEMBERS (default 100), BARE_FRAME, LISTEN_BACKLOG (0 = Bun's 512).
 */
import type { ServerWebSocket } from 'bun'
import { raiseListenBacklog } from '../../src/http/listen-backlog.ts'

const port = Number(process.env.PORT ?? 3100)
const host = process.env.HOST ?? '127.0.0.1'
if (!host.startsWith('127.')) throw new Error(`HOST must be a loopback address, not ${host}`)
const maxMembers = Number(process.env.MAX_ROOM_MEMBERS ?? 100)
const frameKind = process.env.BARE_FRAME ?? 'message'
if (frameKind !== 'message' && frameKind !== 'minimal') throw new Error(`BARE_FRAME: message or minimal, not ${frameKind}`)

type User = { id: number; email: string; nickname: string }
type Room = { id: number; name: string; seq: number; members: Set<number>; createdBy: number }
type Data = { user: User; rooms: number[] }

const users: User[] = []
const rooms = new Map<number, Room>()
let nextMsgId = 1

const json = (status: number, body: unknown) => Response.json(body, { status })
const error = (status: number, code: string, detail: string) => json(status, { detail, code })

function userOf(token: string | null | undefined): User | null {
  const id = Number(token?.replace(/^Bearer /, '').replace(/^u/, ''))
  return users[id - 1] ?? null
}

const roomJson = (r: Room) => ({
  id: r.id, type: 'group', name: r.name, visibility: 'public', created_by: r.createdBy,
  member_count: r.members.size, max_members: maxMembers, last_seq: r.seq,
})

async function rest(req: Request, url: URL): Promise<Response> {
  const p = url.pathname
  if (p === '/readyz' || p === '/healthz') return json(200, { status: 'ok' })
  if (req.method === 'POST' && p === '/v1/auth/register') {
    const b = (await req.json()) as { email: string; nickname: string }
    const u: User = { id: users.length + 1, email: b.email, nickname: b.nickname }
    users.push(u)
    return json(201, { user: u, access: `u${u.id}`, refresh: `r${u.id}` })
  }
  const me = userOf(req.headers.get('authorization'))
  if (!me) return error(401, 'unauthorized', 'no such user')
  if (req.method === 'POST' && p === '/v1/rooms') {
    const b = (await req.json()) as { name?: string; member_ids?: number[] }
    const r: Room = { id: rooms.size + 1, name: b.name ?? '', seq: 0, members: new Set([me.id, ...(b.member_ids ?? [])]), createdBy: me.id }
    if (r.members.size > maxMembers) return error(422, 'room_full', 'too many members')
    rooms.set(r.id, r)
    return json(201, roomJson(r))
  }
  const m = /^\/v1\/rooms\/(\d+)(\/[a-z]+)?$/.exec(p)
  const room = m ? rooms.get(Number(m[1])) : undefined
  if (!m || !room) return error(404, 'not_found', 'no such route or room')
  const sub = m[2] ?? ''
  if (req.method === 'GET' && sub === '') return json(200, roomJson(room))
  if (req.method === 'GET' && sub === '/members') {
    return json(200, { members: [...room.members].map((id) => ({ user: users[id - 1], role: 'member' })) })
  }
  if (req.method === 'POST' && sub === '/join') {
    if (room.members.has(me.id)) return json(200, roomJson(room))
    if (room.members.size >= maxMembers) return error(422, 'room_full', 'room is full')
    room.members.add(me.id)
    return json(200, roomJson(room))
  }
  if (req.method === 'POST' && sub === '/members') {
    const ids = ((await req.json()) as { user_ids: number[] }).user_ids
    const added = ids.filter((id) => !room.members.has(id))
    if (room.members.size + new Set(added).size > maxMembers) return error(422, 'room_full', 'room is full')
    for (const id of added) room.members.add(id)
    return json(200, { members: [...room.members].map((id) => ({ user: users[id - 1], role: 'member' })) })
  }
  return error(404, 'not_found', 'no such route')
}

const server = Bun.serve<Data>({
  port,
  hostname: host,
  async fetch(req, srv) {
    const url = new URL(req.url)
    const ws = /^\/v1(?:\/rooms\/(\d+))?\/ws$/.exec(url.pathname)
    if (ws) {
      const user = userOf(url.searchParams.get('token'))
      if (!user) return error(401, 'unauthorized', 'no such user')
      const roomIds = ws[1] ? [Number(ws[1])] : [...rooms.values()].filter((r) => r.members.has(user.id)).map((r) => r.id)
      if (srv.upgrade(req, { data: { user, rooms: roomIds } })) return undefined
      return error(400, 'bad_request', 'upgrade failed')
    }
    return rest(req, url)
  },
  websocket: {
    perMessageDeflate: false,
    open(ws: ServerWebSocket<Data>) {
      for (const id of ws.data.rooms) ws.subscribe(`room:${id}`)
      ws.send(JSON.stringify({
        type: 'ready', user: ws.data.user, session_id: crypto.randomUUID(),
        rooms: ws.data.rooms.map((id) => ({ id, last_seq: rooms.get(id)?.seq ?? 0 })),
      }))
    },
    message(ws: ServerWebSocket<Data>, raw) {
      let f: { type?: string; room_id?: number; content?: string; client_msg_id?: string }
      try {
        f = JSON.parse(String(raw)) as typeof f
      } catch {
        ws.send('{"type":"error","code":"bad_request","detail":"not JSON"}')
        return
      }
      if (f.type === 'ping') {
        ws.send('{"type":"pong"}')
        return
      }
      const room = f.type === 'message.send' ? rooms.get(f.room_id ?? 0) : undefined
      if (!room) {
        ws.send(JSON.stringify({ type: 'error', code: 'bad_request', detail: 'unknown frame or room', client_msg_id: f.client_msg_id }))
        return
      }
      const u = ws.data.user
      const message = {
        id: nextMsgId++, room_id: room.id, seq: ++room.seq,
        sender: { id: u.id, nickname: u.nickname, avatar_url: null },
        type: 'text', content: f.content, reply_to_id: null, attachment: null, reactions: [],
        client_msg_id: f.client_msg_id ?? null, created_at: new Date().toISOString(), edited_at: null, deleted: false,
      }
      server.publish(`room:${room.id}`, frameKind === 'message'
        ? JSON.stringify({ type: 'message.created', message })
        : JSON.stringify({ type: 'message.created', message: { room_id: room.id, seq: message.seq, content: f.content } }))
      ws.send(JSON.stringify({ type: 'ack', client_msg_id: f.client_msg_id, message }))
    },
  },
})

const backlog = Number(process.env.LISTEN_BACKLOG ?? 4096)
const raised = backlog > 0 && server.port !== undefined ? raiseListenBacklog(server.port, backlog) : null
console.log(`bare-bun baseline on ${host}:${server.port}, BARE_FRAME=${frameKind}, backlog ${raised?.ok ? raised.backlog : `512 (${raised ? raised.reason : 'LISTEN_BACKLOG=0'})`}`)
process.on('SIGTERM', () => {
  server.stop(true)
  process.exit(0)
})
