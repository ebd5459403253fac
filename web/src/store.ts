/**
 * The app's state (Preact signals) and everything that talks to the server,
 * all of it through the client SDK (client/): REST through `client.api`
 * (Eden Treaty), live events and sends through `client.socket()`.
 */
import { batch, computed, signal } from '@preact/signals'
import { ChatClient, ChatError, type ChatSocket, type Member, type Message, type Room, type Space, type SpaceMember, type Tokens, type User } from '../../client/src'
import { t } from './i18n'

const TOKENS_KEY = 'chat.tokens'
const ROOM_KEY = 'chat.room'

export type Pending = { clientMsgId: string; roomId: number; content: string; replyToId: number | null; failed?: string }
export type Upload = { id: string; roomId: number; name: string; sent: number; total: number }
export type Settings = { notifications: boolean; read_receipts: boolean; retention_days: number | null }

export const me = signal<User | null>(null)
export const booted = signal(false)
/** gateway mode: the API gateway in front says who the user is; no sign-in here */
export const gateway = signal(false)
export const online = signal(false)
export const rooms = signal<Room[]>([])
export const spaces = signal<Space[]>([])
/** null: direct messages and groups; else the space whose channels are listed */
export const currentSpaceId = signal<number | null>(null)
export const currentRoomId = signal<number | null>(null)
export const messages = signal<ReadonlyMap<number, Message[]>>(new Map())
export const hasOlder = signal<ReadonlyMap<number, boolean>>(new Map())
export const pending = signal<Pending[]>([])
export const uploads = signal<Upload[]>([])
/** room → user → nickname of who is typing */
export const typing = signal<ReadonlyMap<number, ReadonlyMap<number, string>>>(new Map())
export const members = signal<ReadonlyMap<number, Member[]>>(new Map())
/** users seen online (presence) */
export const present = signal<ReadonlySet<number>>(new Set())
export const settings = signal<ReadonlyMap<number, Settings>>(new Map())
export const spaceMembers = signal<ReadonlyMap<number, SpaceMember[]>>(new Map())
export const toast = signal<string | null>(null)
/** a message to scroll to and flash (search results, reply quotes) */
export const jumpTo = signal<{ roomId: number; seq: number; at: number } | null>(null)

export const currentRoom = computed(() => rooms.value.find((r) => r.id === currentRoomId.value) ?? null)

function loadTokens(): Tokens | null {
  try {
    const t = JSON.parse(localStorage.getItem(TOKENS_KEY) ?? 'null') as Partial<Tokens> | null
    return typeof t?.access === 'string' && typeof t.refresh === 'string' ? { access: t.access, refresh: t.refresh } : null
  } catch {
    return null
  }
}

function saveTokens(tokens: Tokens | null) {
  if (tokens) localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens))
  else localStorage.removeItem(TOKENS_KEY)
}

export let client = new ChatClient(location.origin, loadTokens(), saveTokens)
let socket: ChatSocket | null = null

/** An Eden answer's data, or a thrown ChatError with the server's code and detail. */
export async function must<R extends { data: unknown; error: unknown }>(p: Promise<R>): Promise<NonNullable<R['data']>> {
  const r = await p
  if (r.error) {
    const v = (r.error as { status?: number; value?: { code?: string; detail?: string } }).value
    throw new ChatError(v?.code ?? 'error', v?.detail ?? t.errorGeneric)
  }
  return r.data as NonNullable<R['data']>
}

export function report(e: unknown) {
  toast.value = e instanceof Error ? e.message : t.errorGeneric
}

// ---------- small immutable updates

function setIn<K, V>(m: ReadonlyMap<K, V>, k: K, v: V): Map<K, V> {
  const n = new Map(m)
  n.set(k, v)
  return n
}

/** Merges messages into a room's list: one per seq (the newest copy wins), in seq order. */
function mergeMessages(roomId: number, list: Message[]) {
  const cur = messages.value.get(roomId) ?? []
  const bySeq = new Map(cur.map((m) => [m.seq, m]))
  for (const m of list) bySeq.set(m.seq, m)
  messages.value = setIn(messages.value, roomId, [...bySeq.values()].sort((a, b) => a.seq - b.seq))
}

function upsertRoom(room: Room) {
  const list = rooms.value.filter((r) => r.id !== room.id)
  rooms.value = sortRooms([room, ...list])
}

function patchRoom(id: number, f: (r: Room) => Room) {
  rooms.value = sortRooms(rooms.value.map((r) => (r.id === id ? f(r) : r)))
}

const activity = (r: Room) => Date.parse(r.last_message?.created_at ?? r.created_at)
const sortRooms = (list: Room[]) => [...list].sort((a, b) => activity(b) - activity(a))

// ---------- session

/** Starts the app: who am I (a stored session, or the gateway's identity), then rooms and the socket. */
export async function boot() {
  try {
    if (client.session) {
      const user = await must(client.api.v1.users.me.get()).catch(() => null)
      if (user) return await start(user)
      saveTokens(null)
      client = new ChatClient(location.origin, null, saveTokens)
    }
    // no session: a gateway in front answers for us, or this server has its own accounts
    const gw = new ChatClient(location.origin, null, undefined, { gateway: true })
    const r = await gw.api.v1.users.me.get()
    if (r.data) {
      client = gw
      gateway.value = true
      return await start(r.data)
    }
    // 404 on the sign-in route: the server is in gateway mode and we are not signed in at the gateway
    gateway.value = await client.call('POST', '/v1/auth/login', {}, false).then(
      () => false,
      (e: unknown) => e instanceof ChatError && e.code === 'not_found',
    )
  } finally {
    booted.value = true
  }
}

export async function signIn(mode: 'in' | 'up', email: string, password: string, nickname: string) {
  if (mode === 'up') await client.register(email, password, nickname)
  else await client.login(email, password)
  await start(await must(client.api.v1.users.me.get()))
}

/** Logs out for real: the refresh token is revoked (with the session's Authorization header). */
export async function logout() {
  socket?.close()
  socket = null
  await client.logout()
  localStorage.removeItem(ROOM_KEY)
  batch(() => {
    me.value = null
    rooms.value = []
    spaces.value = []
    messages.value = new Map()
    currentRoomId.value = null
    currentSpaceId.value = null
    pending.value = []
  })
}

let listeningForLinks = false
async function start(user: User) {
  me.value = user
  const [r, s] = await Promise.all([must(client.api.v1.rooms.get({ query: { limit: 200 } })), must(client.api.v1.spaces.get())])
  batch(() => {
    rooms.value = sortRooms(r.rooms)
    spaces.value = s.spaces
  })
  connect()
  void loadDirectPeers()
  // an invite link opened while the app is open only changes the hash
  if (!listeningForLinks) addEventListener('hashchange', () => void followInviteLink())
  listeningForLinks = true
  await followInviteLink()
  const saved = Number(localStorage.getItem(ROOM_KEY))
  const room = rooms.value.find((x) => x.id === saved)
  if (room) {
    currentSpaceId.value = room.space_id
    await openRoom(room.id)
  }
}

// ---------- the socket

function connect() {
  const s = (socket = client.socket())
  s.on('ready', (f) => {
    online.value = true
    me.value = f.user
  })
  s.on('message.created', ({ message: m }) => onMessage(m))
  s.on('message.updated', ({ message: m }) => {
    if (messages.value.get(m.room_id)?.some((x) => x.id === m.id)) mergeMessages(m.room_id, [m])
    patchRoom(m.room_id, (r) => (r.last_message?.id === m.id ? { ...r, last_message: m } : r))
  })
  s.on('message.deleted', (f) => {
    const list = messages.value.get(f.room_id)
    const m = list?.find((x) => x.id === f.message_id)
    if (m) mergeMessages(f.room_id, [{ ...m, deleted: true, content: '', attachment: null }])
    patchRoom(f.room_id, (r) => ({
      ...r,
      last_message: r.last_message?.id === f.message_id ? { ...r.last_message, deleted: true, content: '', attachment: null } : r.last_message,
      // an unread message that was deleted is no longer unread (it came after the read mark)
      unread_count: r.id !== currentRoomId.value && m && m.sender?.id !== me.value?.id && r.unread_count > 0 ? r.unread_count - 1 : r.unread_count,
    }))
  })
  s.on('typing', (f) => setTyping(f.room_id, f.user_id, f.nickname, f.is_typing))
  s.on('read', (f) => {
    const list = members.value.get(f.room_id)
    if (list) members.value = setIn(members.value, f.room_id, list.map((x) => (x.user.id === f.user_id ? { ...x, last_read_seq: Math.max(x.last_read_seq, f.seq) } : x)))
  })
  s.on('presence', (f) => {
    const n = new Set(present.value)
    if (f.status === 'online') n.add(f.user_id)
    else n.delete(f.user_id)
    present.value = n
  })
  s.on('room.created', ({ room }) => {
    upsertRoom(room)
    if (room.type === 'direct') void refreshMembers(room.id).catch(() => {})
  })
  s.on('room.updated', ({ room }) => patchRoom(room.id, (r) => ({ ...room, unread_count: r.unread_count })))
  s.on('room.deleted', (f) => {
    rooms.value = rooms.value.filter((r) => r.id !== f.room_id)
    if (currentRoomId.value === f.room_id) closeRoom()
  })
  s.on('member.joined', (f) => void refreshMembers(f.room_id))
  s.on('member.left', (f) => {
    if (f.user_id === me.value?.id) {
      rooms.value = rooms.value.filter((r) => r.id !== f.room_id)
      if (currentRoomId.value === f.room_id) closeRoom()
    } else void refreshMembers(f.room_id)
  })
  s.on('error', (f) => {
    if (f.code === 'unauthorized' || f.code.startsWith('closed_')) toast.value = f.detail
  })
  // the SDK reconnects by itself; this shows when it is between sockets
  setInterval(() => {
    online.value = socket?.connected ?? false
  }, 1000)
}

function onMessage(m: Message) {
  const mine = m.sender?.id === me.value?.id
  if (m.client_msg_id && mine) pending.value = pending.value.filter((p) => p.clientMsgId !== m.client_msg_id)
  if (messages.value.has(m.room_id)) mergeMessages(m.room_id, [m])
  const looking = m.room_id === currentRoomId.value && document.visibilityState === 'visible'
  if (!rooms.value.some((r) => r.id === m.room_id)) return
  patchRoom(m.room_id, (r) => ({
    ...r,
    last_seq: Math.max(r.last_seq, m.seq),
    last_message: !r.last_message || m.seq >= r.last_message.seq ? m : r.last_message,
    unread_count: mine || looking ? 0 : r.unread_count + 1,
  }))
  if (mine) return
  if (looking) markRead(m.room_id, m.seq)
  else void notify(m)
}

async function notify(m: Message) {
  if (!document.hidden || typeof Notification === 'undefined' || Notification.permission !== 'granted') return
  // the room's settings, read once (a room never opened here has not been read yet)
  if (!settings.value.has(m.room_id)) await loadSettings(m.room_id).catch(() => {})
  if (settings.value.get(m.room_id)?.notifications === false) return
  const room = rooms.value.find((r) => r.id === m.room_id)
  const n = new Notification(m.sender?.nickname ?? t.appName, { body: m.deleted ? '' : m.content || m.attachment?.name || '', tag: `room-${m.room_id}` })
  n.onclick = () => {
    window.focus()
    if (room) void openRoom(room.id)
  }
}

const typingTimers = new Map<string, ReturnType<typeof setTimeout>>()
function setTyping(roomId: number, userId: number, nickname: string, on: boolean) {
  const key = `${roomId}:${userId}`
  clearTimeout(typingTimers.get(key))
  const inRoom = new Map(typing.value.get(roomId) ?? [])
  if (on) {
    inRoom.set(userId, nickname)
    // a typing user who goes quiet without saying so stops showing after a while
    typingTimers.set(key, setTimeout(() => setTyping(roomId, userId, nickname, false), 6000))
  } else inRoom.delete(userId)
  typing.value = setIn(typing.value, roomId, inRoom)
}

let lastTypingSent = 0
export function sendTyping(roomId: number, on: boolean) {
  const now = Date.now()
  if (on && now - lastTypingSent < 1000) return
  lastTypingSent = on ? now : 0
  socket?.typing(roomId, on)
}

function markRead(roomId: number, seq: number) {
  if (seq <= 0) return
  socket?.read(roomId, seq)
  patchRoom(roomId, (r) => ({ ...r, unread_count: 0 }))
}

// ---------- rooms

export function closeRoom() {
  currentRoomId.value = null
  localStorage.removeItem(ROOM_KEY)
}

export async function openRoom(id: number) {
  currentRoomId.value = id
  localStorage.setItem(ROOM_KEY, String(id))
  const room = rooms.value.find((r) => r.id === id)
  if (!messages.value.has(id)) {
    // from here on live messages of the room are kept, also those that come while the page loads
    messages.value = setIn(messages.value, id, [])
    const page = await must(client.api.v1.rooms({ id }).messages.get({ query: { limit: 50 } })).catch((e: unknown) => {
      const n = new Map(messages.value)
      n.delete(id)
      messages.value = n
      throw e
    })
    batch(() => {
      mergeMessages(id, page.messages)
      hasOlder.value = setIn(hasOlder.value, id, page.has_more)
    })
  }
  const last = messages.value.get(id)?.at(-1)?.seq ?? room?.last_seq ?? 0
  if (document.visibilityState === 'visible') markRead(id, last)
  await Promise.all([refreshMembers(id), loadPresence(id), loadSettings(id)]).catch(report)
}

export async function loadOlder(roomId: number): Promise<boolean> {
  const first = messages.value.get(roomId)?.[0]
  if (!first || !hasOlder.value.get(roomId)) return false
  const page = await must(client.api.v1.rooms({ id: roomId }).messages.get({ query: { before_seq: first.seq, limit: 50 } }))
  batch(() => {
    mergeMessages(roomId, page.messages)
    hasOlder.value = setIn(hasOlder.value, roomId, page.has_more)
  })
  return page.messages.length > 0
}

/** Scrolls to a message, loading older pages until it is there. */
export async function jump(roomId: number, seq: number) {
  if (currentRoomId.value !== roomId) await openRoom(roomId)
  for (let i = 0; i < 40 && !(messages.value.get(roomId) ?? []).some((m) => m.seq <= seq); i++) {
    if (!(await loadOlder(roomId))) break
  }
  jumpTo.value = { roomId, seq, at: Date.now() }
}

async function refreshMembers(roomId: number) {
  const r = await must(client.api.v1.rooms({ id: roomId }).members.get())
  batch(() => {
    members.value = setIn(members.value, roomId, r.members)
    // who is online now; presence frames keep it current
    const n = new Set(present.value)
    for (const m of r.members) if (m.user.online) n.add(m.user.id)
    present.value = n
  })
}

/** The other person of each direct room (its title and presence dot in the room list). */
async function loadDirectPeers() {
  const direct = rooms.value.filter((r) => r.type === 'direct' && !members.value.has(r.id)).slice(0, 50)
  await Promise.all(direct.map((r) => refreshMembers(r.id).catch(() => {})))
}

async function loadPresence(roomId: number) {
  const r = await must(client.api.v1.rooms({ id: roomId }).presence.get())
  const n = new Set(present.value)
  for (const m of r.members) {
    if (m.online) n.add(m.user_id)
    else n.delete(m.user_id)
  }
  present.value = n
}

async function loadSettings(roomId: number) {
  const s = await must(client.api.v1.rooms({ id: roomId }).settings.get())
  settings.value = setIn(settings.value, roomId, s)
}

export async function saveSettings(roomId: number, patch: Partial<Settings>) {
  const s = await must(client.api.v1.rooms({ id: roomId }).settings.patch(patch))
  settings.value = setIn(settings.value, roomId, s)
}

export async function renameRoom(roomId: number, name: string) {
  upsertRoom(await must(client.api.v1.rooms({ id: roomId }).patch({ name })))
}

export async function leaveRoom(roomId: number) {
  await must(client.api.v1.rooms({ id: roomId }).leave.post())
  rooms.value = rooms.value.filter((r) => r.id !== roomId)
  closeRoom()
}

export async function searchUsers(query: string): Promise<User[]> {
  if (!query.trim()) return []
  const r = await must(client.api.v1.users.get({ query: { query: query.trim(), limit: 10 } }))
  return r.users.filter((u) => u.id !== me.value?.id)
}

export async function startDirect(userId: number) {
  const room = await must(client.api.v1.rooms.post({ type: 'direct', member_ids: [userId] }))
  upsertRoom(room)
  currentSpaceId.value = null
  socket?.follow(room.id, room.last_seq)
  openRoom(room.id).catch(report)
}

export async function createGroup(name: string, visibility: 'private' | 'public', memberIds: number[]) {
  const room = await must(client.api.v1.rooms.post({ type: 'group', name, visibility, member_ids: memberIds }))
  upsertRoom(room)
  currentSpaceId.value = null
  socket?.follow(room.id, room.last_seq)
  openRoom(room.id).catch(report)
}

export async function invite(roomId: number, userIds: number[]) {
  const r = await must(client.api.v1.rooms({ id: roomId }).members.post({ user_ids: userIds }))
  members.value = setIn(members.value, roomId, r.members)
}

export async function joinRoom(id: number) {
  const room = await must(client.api.v1.rooms({ id }).join.post())
  upsertRoom(room)
  socket?.follow(room.id, room.last_seq)
  openRoom(room.id).catch(report)
}

// ---------- messages

export function send(roomId: number, content: string, replyToId: number | null) {
  const clientMsgId = crypto.randomUUID()
  pending.value = [...pending.value, { clientMsgId, roomId, content, replyToId }]
  socket?.send(roomId, content, { clientMsgId, ...(replyToId ? { replyToId } : {}) }).then(
    (m) => {
      pending.value = pending.value.filter((p) => p.clientMsgId !== clientMsgId)
      onMessage(m)
    },
    (e: unknown) => {
      pending.value = pending.value.map((p) => (p.clientMsgId === clientMsgId ? { ...p, failed: e instanceof Error ? e.message : t.errorGeneric } : p))
    },
  )
}

export async function editMessage(m: Message, content: string) {
  mergeMessages(m.room_id, [await must(client.api.v1.rooms({ id: m.room_id }).messages({ mid: m.id }).patch({ content }))])
}

export async function deleteMessage(m: Message) {
  await must(client.api.v1.rooms({ id: m.room_id }).messages({ mid: m.id }).delete())
  mergeMessages(m.room_id, [{ ...m, deleted: true, content: '', attachment: null }])
}

export async function toggleReaction(m: Message, emoji: string) {
  const mine = m.reactions.find((r) => r.emoji === emoji)?.me
  const target = client.api.v1.rooms({ id: m.room_id }).messages({ mid: m.id }).reactions({ emoji })
  mergeMessages(m.room_id, [await must(mine ? target.delete() : target.put())])
}

export async function upload(roomId: number, file: File) {
  const id = crypto.randomUUID()
  uploads.value = [...uploads.value, { id, roomId, name: file.name, sent: 0, total: file.size }]
  try {
    const m = await client.upload(roomId, file, {
      onProgress: (sent, total) => {
        uploads.value = uploads.value.map((u) => (u.id === id ? { ...u, sent, total } : u))
      },
    })
    onMessage(m)
  } catch (e) {
    report(e)
  } finally {
    uploads.value = uploads.value.filter((u) => u.id !== id)
  }
}

export type Hit = Message & { highlight: string }
export async function searchRoom(roomId: number, q: string): Promise<Hit[]> {
  const r = await must(client.api.v1.rooms({ id: roomId }).search.get({ query: { q, limit: 20 } }))
  return r.messages
}

export async function updateProfile(p: { nickname?: string; avatar_url?: string | null; bio?: string | null }) {
  me.value = await must(client.api.v1.users.me.patch(p))
}

// ---------- spaces

export async function refreshSpaces() {
  const [s, r] = await Promise.all([must(client.api.v1.spaces.get()), must(client.api.v1.rooms.get({ query: { limit: 200 } }))])
  batch(() => {
    spaces.value = s.spaces
    rooms.value = sortRooms(r.rooms.map((x) => ({ ...x, unread_count: rooms.value.find((y) => y.id === x.id)?.unread_count ?? x.unread_count })))
  })
  for (const room of r.rooms) socket?.follow(room.id, room.last_seq)
}

export async function createSpace(name: string) {
  const s = await must(client.api.v1.spaces.post({ name }))
  await refreshSpaces()
  currentSpaceId.value = s.id
  const general = s.channels[0]
  if (general) openRoom(general.id).catch(report)
}

export async function createChannel(spaceId: number, name: string) {
  const room = await must(client.api.v1.spaces({ id: spaceId }).channels.post({ name }))
  upsertRoom(room)
  socket?.follow(room.id, room.last_seq)
  openRoom(room.id).catch(report)
}

export async function inviteLink(spaceId: number): Promise<string> {
  const inv = await must(client.api.v1.spaces({ id: spaceId }).invites.post({}))
  return `${location.origin}/#join=${spaceId}.${inv.code}`
}

/** `/#join=<space>.<code>`: joins that space; `/#room=<id>`: joins that public room (once signed in). */
async function followInviteLink() {
  const room = /^#room=(\d+)$/.exec(location.hash)
  if (room) {
    history.replaceState(null, '', location.pathname)
    return joinRoom(Number(room[1])).catch(report)
  }
  const m = /^#join=(\d+)\.([\w-]+)$/.exec(location.hash)
  if (!m) return
  history.replaceState(null, '', location.pathname)
  await joinSpace(Number(m[1]), m[2]!).catch(report)
}

export async function joinSpace(spaceId: number, code: string) {
  await must(client.api.v1.spaces({ id: spaceId }).join.post({ invite_code: code }))
  await refreshSpaces()
  currentSpaceId.value = spaceId
  const first = rooms.value.find((r) => r.space_id === spaceId)
  if (first) openRoom(first.id).catch(report)
}

export async function loadSpaceMembers(spaceId: number) {
  const r = await must(client.api.v1.spaces({ id: spaceId }).members.get())
  spaceMembers.value = setIn(spaceMembers.value, spaceId, r.members)
}

export async function setSpaceRole(spaceId: number, userId: number, role: 'admin' | 'member') {
  await must(client.api.v1.spaces({ id: spaceId }).members({ userId }).patch({ role }))
  await loadSpaceMembers(spaceId)
}
