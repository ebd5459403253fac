import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { CloseCode } from '../protocol/frames'
import { frame, type ServerFrame } from '../protocol/server-frames'
import { ABUSE_PER_MINUTE, REPLAY_MAX, Session, SLOW_DRAIN_MS, type SessionDeps, type SessionHooks, type SocketLike } from './session'
import { fakeNode, gate } from './testing'
import { TypingThrottle } from './typing'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** A socket that records what the session does to it; `buffered` is what Bun would report. */
function fakeSocket() {
  const calls: string[] = []
  const ws = {
    buffered: 0,
    send: () => 1,
    publish: () => 1,
    subscribe: (t: string) => void calls.push(`subscribe ${t}`),
    unsubscribe: (t: string) => void calls.push(`unsubscribe ${t}`),
    close: (code?: number) => void calls.push(`close ${code}`),
    terminate: () => void calls.push('terminate'),
    getBufferedAmount: () => ws.buffered,
  }
  return { ws: ws as typeof ws & SocketLike, calls }
}

function make(expiresAt: number | null = null, sid: string | null = 'login-1') {
  const { ws, calls } = fakeSocket()
  const seen: string[] = []
  const hooks: SessionHooks = {
    slowBytes: 1000,
    onSlow: () => void seen.push('slow'),
    onCredentialsEnded: (why) => void seen.push(why),
  }
  // tick, onDrain and onRevoke touch only the socket and the hooks
  const deps = {} as unknown as SessionDeps
  const s = new Session(ws, deps, { userId: 7, autoSubscribe: true, onlyRoom: null, afterSeq: null, sid, expiresAt }, hooks)
  return { s, ws, calls, seen }
}

describe('Session lifetime', () => {
  test('closes with 4001 once its token expired, not before', () => {
    const { s, calls, seen } = make(10_000)
    s.tick(9_999)
    expect(calls).toEqual([])
    s.tick(10_000)
    expect(calls).toEqual([`close ${CloseCode.unauthorized}`])
    expect(seen).toEqual(['expired'])
    s.tick(10_500)
    expect(calls).toHaveLength(1)
  })

  test('a revoked login closes its sockets with 4001; another login’s revocation does nothing', () => {
    const { s, calls, seen } = make()
    s.onRevoke('login-2')
    expect(calls).toEqual([])
    s.onRevoke('login-1')
    expect(calls).toEqual([`close ${CloseCode.unauthorized}`])
    expect(seen).toEqual(['revoked'])
  })

  test('slow: flagged past the threshold (topics left), closed with 1013 only once the buffer drained', () => {
    const { s, ws, calls, seen } = make()
    ws.buffered = 1000
    s.tick(Date.now())
    expect(s.slow).toBe(false)
    ws.buffered = 1001
    s.tick(Date.now())
    expect(s.slow).toBe(true)
    expect(seen).toEqual(['slow'])
    expect(calls).toEqual(['unsubscribe user:7'])
    ws.buffered = 500
    s.onDrain()
    s.tick(Date.now())
    expect(calls).toEqual(['unsubscribe user:7'])
    ws.buffered = 0
    s.onDrain()
    expect(calls).toEqual(['unsubscribe user:7', `close ${CloseCode.tryAgainLater}`])
    s.tick(Date.now())
    expect(calls).toHaveLength(2)
    expect(seen).toEqual(['slow'])
  })

  test('slow and never drained: dropped after SLOW_DRAIN_MS (no close frame can reach a peer that reads nothing)', () => {
    const { s, ws, calls } = make()
    ws.buffered = 5000
    s.tick(Date.now())
    s.tick(Date.now() + SLOW_DRAIN_MS - 100)
    expect(calls).toEqual(['unsubscribe user:7'])
    s.tick(Date.now() + SLOW_DRAIN_MS + 1)
    expect(calls).toEqual(['unsubscribe user:7', 'terminate'])
  })
})

/** Waits for a condition the session reaches on its own (a few microtasks, or a timer). */
async function until(cond: () => boolean, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}

describe('Session over a hub, fake sockets and a fake bus', () => {
  test('open: ready with each room’s last_seq, topics followed, presence online; live messages arrive once', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7, 8])
    node.chat.store(1, 1)
    node.chat.store(1, 2)
    const { socket } = await node.connect(7)
    const [ready] = socket.framesOf('ready')
    expect(ready?.rooms).toEqual([{ id: 1, last_seq: 2 }])
    expect(ready?.user).toMatchObject({ id: 7, online: true })
    expect([...socket.topics].sort()).toEqual(['room:1', 'user:7'])
    expect(node.bus.published.map((p) => JSON.parse(p.frame))).toContainEqual(
      frame('presence', { user_id: 7, nickname: 'user7', status: 'online', last_seen: null }),
    )
    node.chat.commit(1)
    node.chat.commit(1)
    expect(socket.seqs(1)).toEqual([3, 4])
  })

  test('subscribe: replay then live with no gap and no duplicate at the seam, even when a message commits mid-replay', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7, 8])
    for (let seq = 1; seq <= 5; seq++) node.chat.store(1, seq)
    const live = await node.connect(8) // follows the room live throughout
    const { socket, send } = await node.connect(7, { autoSubscribe: false })
    const held = gate()
    node.chat.framesGate = held.promise
    const subscribing = send({ type: 'subscribe', room_id: 1, after_seq: 2 })
    await until(() => node.chat.framesCalls === 1, 'the replay read')
    node.chat.commit(1) // seq 6: published while the replay is being read
    node.chat.framesGate = null
    held.open()
    await subscribing
    expect(socket.framesOf('subscribed')).toEqual([frame('subscribed', { room_id: 1, last_seq: 6 })])
    node.chat.commit(1)
    expect(socket.seqs(1)).toEqual([3, 4, 5, 6, 7])
    expect(live.socket.seqs(1)).toEqual([6, 7])
    // the subscribed frame comes after the replay and before anything live
    const types = socket.frames.map((f) => (f.type === 'message.created' ? f.message.seq : f.type))
    expect(types).toEqual(['ready', 3, 4, 5, 6, 'subscribed', 7])
  })

  test('subscribe without after_seq: from what this node delivers next', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7])
    node.chat.store(1, 1)
    const { socket, send } = await node.connect(7, { autoSubscribe: false })
    await send({ type: 'subscribe', room_id: 1 })
    expect(socket.framesOf('subscribed')).toEqual([frame('subscribed', { room_id: 1, last_seq: 1 })])
    node.chat.commit(1)
    expect(socket.seqs(1)).toEqual([2])
  })

  test('after_seq past the committed last_seq is clamped for that socket only; live messages still reach everyone', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7, 8])
    for (let seq = 1; seq <= 5; seq++) node.chat.store(1, seq)
    const other = await node.connect(8)
    const { socket, send } = await node.connect(7, { autoSubscribe: false })
    await send({ type: 'subscribe', room_id: 1, after_seq: 99 })
    expect(socket.framesOf('subscribed')).toEqual([frame('subscribed', { room_id: 1, last_seq: 5 })])
    expect(node.hub.deliveredSeq(1)).toBe(5)
    node.chat.commit(1)
    expect(socket.seqs(1)).toEqual([6])
    expect(other.socket.seqs(1)).toEqual([6])
  })

  test('more than REPLAY_MAX missing: resync_required with the room’s last_seq, and the room is not followed', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7])
    node.chat.lastSeqs.set(1, REPLAY_MAX + 5)
    const { socket, send } = await node.connect(7, { autoSubscribe: false })
    await send({ type: 'subscribe', room_id: 1, after_seq: 4 })
    expect(socket.framesOf('resync_required')).toEqual([frame('resync_required', { room_id: 1, last_seq: REPLAY_MAX + 5 })])
    expect(socket.topics.has('room:1')).toBe(false)
    expect(node.bus.following.has('room:1')).toBe(false)
  })

  test('subscribe to a room the user is not in: an error frame naming the room; nothing followed', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [8])
    const { socket, send } = await node.connect(7, { autoSubscribe: false })
    await send({ type: 'subscribe', room_id: 1 })
    expect(socket.framesOf('error')).toEqual([frame('error', { code: 'not_member', detail: 'You are not a member of this room.', room_id: 1 })])
    expect(node.hub.roomCount).toBe(0)
  })

  test('unsubscribe: unsubscribed, the topic left, the hub lets the room go; nothing more arrives', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7])
    const { socket, send } = await node.connect(7)
    expect(node.bus.following.get('room:1')).toBe(1)
    await send({ type: 'unsubscribe', room_id: 1 })
    expect(socket.framesOf('unsubscribed')).toEqual([frame('unsubscribed', { room_id: 1 })])
    expect(socket.topics.has('room:1')).toBe(false)
    expect(node.bus.following.has('room:1')).toBe(false)
    node.chat.commit(1)
    expect(socket.seqs(1)).toEqual([])
  })

  test('room join and leave through hub events: followed and dropped without a reconnect', async () => {
    const node = fakeNode()
    const { socket } = await node.connect(7)
    node.chat.addRoom(2, [7])
    node.deps.events.toUser(7, frame('room.deleted', { room_id: 99 }), { join: 2 })
    await until(() => socket.topics.has('room:2'), 'room 2 followed')
    node.chat.commit(2)
    expect(socket.seqs(2)).toEqual([1])
    node.deps.events.toUser(7, frame('room.deleted', { room_id: 2 }), { leave: 2 })
    expect(socket.topics.has('room:2')).toBe(false)
    expect(node.hub.roomCount).toBe(0)
    // a deleted room (closeRoom on its topic) is dropped by every socket following it
    node.chat.addRoom(3, [7])
    node.deps.events.toUser(7, frame('room.deleted', { room_id: 99 }), { join: 3 })
    await until(() => socket.topics.has('room:3'), 'room 3 followed')
    node.deps.events.toRoom(3, frame('room.deleted', { room_id: 3 }), { closeRoom: 3 })
    expect(socket.topics.has('room:3')).toBe(false)
    expect(socket.framesOf('room.deleted').map((f) => f.room_id)).toEqual([99, 2, 99, 3])
  })

  test('a socket without auto_subscribe follows no room a join names', async () => {
    const node = fakeNode()
    const { socket } = await node.connect(7, { autoSubscribe: false })
    node.chat.addRoom(2, [7])
    node.deps.events.toUser(7, frame('room.deleted', { room_id: 99 }), { join: 2 })
    expect(socket.topics.has('room:2')).toBe(false)
    expect(node.hub.roomCount).toBe(0)
  })

  test('spaces: followed from ready, joined and left through hub events, dropped when deleted', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7], 10)
    const { socket } = await node.connect(7)
    expect(socket.topics.has('space:10')).toBe(true)
    expect(node.bus.following.get('space:10')).toBe(1)
    node.deps.events.toUser(7, frame('space.deleted', { space_id: 0 }), { joinSpace: 11 })
    expect(socket.topics.has('space:11')).toBe(true)
    node.deps.events.toSpace(11, frame('space.member.left', { space_id: 11, user_id: 8, reason: 'left' }))
    expect(socket.framesOf('space.member.left')).toEqual([frame('space.member.left', { space_id: 11, user_id: 8, reason: 'left' })])
    node.deps.events.toUser(7, frame('space.member.left', { space_id: 11, user_id: 7, reason: 'removed' }), { leaveSpace: 11 })
    expect(socket.topics.has('space:11')).toBe(false)
    expect(node.bus.following.has('space:11')).toBe(false)
    node.deps.events.toSpace(10, frame('space.deleted', { space_id: 10 }), { closeSpace: 10 })
    expect(socket.topics.has('space:10')).toBe(false)
    expect(node.bus.following.has('space:10')).toBe(false)
    expect(socket.framesOf('space.deleted').map((f) => f.space_id)).toEqual([0, 10])
  })

  test('a revoked login (from any node) closes that login’s sockets with 4001, not the user’s others', async () => {
    const node = fakeNode()
    const a = await node.connect(7, { sid: 'login-a' })
    const b = await node.connect(7, { sid: 'login-b' })
    node.deps.events.revokeLogin(7, 'login-a')
    expect(a.socket.closedWith?.code).toBe(CloseCode.unauthorized)
    expect(b.socket.closedWith).toBeNull()
    expect(node.stats.revoked).toBe(1)
    // the revocation is for the sessions: no frame reaches a client
    expect(b.socket.texts.filter((t) => t.includes('login.revoked'))).toEqual([])
  })

  test('a login already logged out does not start: 4001 before ready', async () => {
    const node = fakeNode()
    node.chat.revokedLogins.add('login-7')
    const { socket } = await node.connect(7)
    expect(socket.closedWith?.code).toBe(CloseCode.unauthorized)
    expect(socket.framesOf('ready')).toEqual([])
  })

  test('slow: a send queued past the threshold stops the socket (topics left), 1013 once drained', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7])
    const { socket, session, send } = await node.connect(7)
    socket.sendResult = -1
    socket.buffered = node.hooks.slowBytes + 1
    await send({ type: 'ping' })
    expect(session.slow).toBe(true)
    expect(node.stats.slow).toBe(1)
    expect(socket.topics.size).toBe(0)
    const before = socket.texts.length
    node.chat.commit(1)
    await send({ type: 'ping' })
    expect(socket.texts.length).toBe(before)
    socket.buffered = 0
    session.onDrain()
    expect(socket.closedWith?.code).toBe(CloseCode.tryAgainLater)
  })

  test('a send Bun dropped (0) marks the socket slow at once', async () => {
    const node = fakeNode()
    const { socket, session, send } = await node.connect(7)
    socket.sendResult = 0
    await send({ type: 'ping' })
    expect(session.slow).toBe(true)
  })

  test('abuse: an error frame per bad frame; past ABUSE_PER_MINUTE the socket closes with 1008', async () => {
    const node = fakeNode()
    const { socket, send } = await node.connect(7)
    for (let i = 0; i < ABUSE_PER_MINUTE; i++) await send(i % 2 ? 'not json' : { type: 'nope' })
    expect(socket.framesOf('error')).toHaveLength(ABUSE_PER_MINUTE)
    expect(socket.closedWith).toBeNull()
    await send({ type: 'typing', room_id: 'x', is_typing: true })
    expect(socket.closedWith?.code).toBe(CloseCode.policy)
    expect(socket.framesOf('error').at(-1)).toEqual(frame('error', { code: 'validation', detail: expect.stringContaining('room_id') }))
  })

  test('a bad message.send echoes its client_msg_id in the error', async () => {
    const node = fakeNode()
    const { socket, send } = await node.connect(7)
    await send({ type: 'message.send', room_id: 1, client_msg_id: 'c-1' })
    expect(socket.framesOf('error')).toEqual([frame('error', { code: 'validation', detail: expect.any(String), client_msg_id: 'c-1' })])
  })

  test('message.send: the ack wraps the same message JSON the room got', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7, 8])
    const sender = await node.connect(7)
    const other = await node.connect(8)
    await sender.send({ type: 'message.send', room_id: 1, content: 'hi', client_msg_id: 'c-1' })
    const [ack] = sender.socket.framesOf('ack')
    const [created] = other.socket.framesOf('message.created')
    expect(ack).toEqual(frame('ack', { client_msg_id: 'c-1', message: created!.message }))
    // the sender's own copy arrives on the topic too (clients dedupe by client_msg_id)
    expect(sender.socket.seqs(1)).toEqual([1])
    await sender.send({ type: 'message.send', room_id: 2, content: 'hi', client_msg_id: 'c-2' })
    expect(sender.socket.framesOf('error')).toEqual([
      frame('error', { code: 'not_member', detail: 'You are not a member of this room.', client_msg_id: 'c-2', room_id: 2 }),
    ])
  })

  test('ping → pong; auth renews the credentials (auth_ok), another user’s token is refused and changes nothing', async () => {
    const node = fakeNode()
    const { socket, session, send } = await node.connect(7, { expiresAt: 1_000 })
    await send({ type: 'ping' })
    expect(socket.framesOf('pong')).toEqual([frame('pong', {})])
    node.chat.tokens.set('theirs', { userId: 8, sid: 'login-8', expiresAt: 5_000 })
    await send({ type: 'auth', token: 'theirs' })
    expect(socket.framesOf('error')).toEqual([frame('error', { code: 'unauthorized', detail: 'The token belongs to another user.' })])
    node.chat.tokens.set('mine', { userId: 7, sid: 'login-7b', expiresAt: 5_000 })
    await send({ type: 'auth', token: 'mine' })
    expect(socket.framesOf('auth_ok')).toEqual([frame('auth_ok', { expires_at: new Date(5_000).toISOString() })])
    session.tick(4_999)
    expect(socket.closedWith).toBeNull()
    // the new login is the one a revocation closes
    node.deps.events.revokeLogin(7, 'login-7')
    expect(socket.closedWith).toBeNull()
    node.deps.events.revokeLogin(7, 'login-7b')
    expect(socket.closedWith?.code).toBe(CloseCode.unauthorized)
  })

  test('typing: relayed to the room’s other sockets once per interval per user (across their sockets); stop relays false', async () => {
    // an interval no test run reaches: the second relay is throttled whatever the load
    const node = fakeNode({ typing: new TypingThrottle(60_000, 60_000) })
    node.chat.addRoom(1, [7, 8])
    const a1 = await node.connect(7)
    const a2 = await node.connect(7)
    const b = await node.connect(8)
    await a1.send({ type: 'typing', room_id: 1, is_typing: true })
    await a1.send({ type: 'typing', room_id: 1, is_typing: true })
    await a2.send({ type: 'typing', room_id: 1, is_typing: true })
    const on = frame('typing', { room_id: 1, user_id: 7, nickname: 'user7', is_typing: true })
    expect(b.socket.framesOf('typing')).toEqual([on])
    expect(a2.socket.framesOf('typing')).toEqual([on])
    expect(a1.socket.framesOf('typing')).toEqual([])
    // other nodes hear it through the bus, this node through Bun's topic only
    expect(node.bus.published.filter((p) => p.meta?.remoteOnly).map((p) => JSON.parse(p.frame))).toEqual([on])
    await a1.send({ type: 'typing', room_id: 1, is_typing: false })
    await a1.send({ type: 'typing', room_id: 1, is_typing: false })
    const off = { ...on, is_typing: false }
    expect(b.socket.framesOf('typing')).toEqual([on, off])
  })

  test('typing: a stale indicator clears itself after the TTL; a closed socket clears its own through the bus', async () => {
    const node = fakeNode({ typing: new TypingThrottle(60_000, 5) })
    node.chat.addRoom(1, [7, 8])
    const a = await node.connect(7)
    const b = await node.connect(8)
    await a.send({ type: 'typing', room_id: 1, is_typing: true })
    await until(() => b.socket.framesOf('typing').length === 2, 'the stale indicator cleared')
    expect(b.socket.framesOf('typing').map((f) => f.is_typing)).toEqual([true, false])
    // typing in a room the user is not in is refused
    await a.send({ type: 'typing', room_id: 3, is_typing: true })
    expect(a.socket.framesOf('error')).toEqual([frame('error', { code: 'not_member', detail: 'You are not a member of this room.', room_id: 3 })])
    const slowTtl = fakeNode({ typing: new TypingThrottle(60_000, 60_000) })
    slowTtl.chat.addRoom(2, [7, 8])
    const c = await slowTtl.connect(7)
    await c.send({ type: 'typing', room_id: 2, is_typing: true })
    await c.session.close()
    const last = slowTtl.bus.published.filter((p) => p.topic === 'room:2' && p.frame.includes('"typing"')).at(-1)
    // from a closed socket: to everyone on every node (no Bun topic to publish on any more)
    expect(last?.meta).toBeUndefined()
    expect(JSON.parse(last!.frame)).toEqual(frame('typing', { room_id: 2, user_id: 7, nickname: 'user7', is_typing: false }))
  })

  test('close: the hub lets everything go and the user goes offline once their last socket closed', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, [7], 10)
    node.chat.addRoom(2, [7])
    const first = await node.connect(7)
    const second = await node.connect(7)
    await first.session.close()
    expect(node.bus.following.get('room:1')).toBe(1)
    const offline = () => node.bus.published.map((p) => JSON.parse(p.frame) as ServerFrame).filter((f) => f.type === 'presence' && f.status === 'offline')
    expect(offline()).toEqual([])
    await second.session.close()
    expect([...node.bus.following.keys()]).toEqual([])
    expect(node.hub.roomCount).toBe(0)
    // to the group room and to the space once each (not to the space's channel one by one)
    expect(offline()).toHaveLength(2)
  })
})
