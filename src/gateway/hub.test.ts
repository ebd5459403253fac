import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { messageCreatedJson } from '../protocol/server-frames'
import { Hub, type HubMember } from './hub'
import { FakeBus, FakeChat, gate, silentLog } from './testing'

setDefaultTimeout(60_000)

/** A hub member that records what the hub told it. */
function member(userId: number) {
  const heard: string[] = []
  const m: HubMember = {
    userId,
    onJoin: (id) => void heard.push(`join ${id}`),
    onLeave: (id) => void heard.push(`leave ${id}`),
    onRevoke: (sid) => void heard.push(`revoke ${sid}`),
    onJoinSpace: (id) => void heard.push(`joinSpace ${id}`),
    onLeaveSpace: (id) => void heard.push(`leaveSpace ${id}`),
  }
  return { m, heard }
}

function hub(waitMs = 20) {
  const bus = new FakeBus()
  const chat = new FakeChat(bus)
  const published: { topic: string; data: string }[] = []
  const h = new Hub({
    bus, log: silentLog, waitMs,
    fetchRange: (roomId, after, upto) => chat.frames(roomId, after, upto),
    lastSeq: (roomId) => chat.lastSeq(roomId),
  })
  h.attach({ publish: (topic, data) => published.push({ topic, data }) })
  const seqsOut = (roomId: number) =>
    published.filter((p) => p.topic === `room:${roomId}`).map((p) => (JSON.parse(p.data) as { message: { seq: number } }).message.seq)
  return { bus, chat, hub: h, published, seqsOut }
}

async function until(cond: () => boolean, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}

describe('Hub', () => {
  test('rooms are followed on the bus once, while any local member needs them', async () => {
    const { bus, hub: h } = hub()
    const a = member(1)
    const b = member(2)
    expect(h.deliveredSeq(1)).toBe(-1)
    await Promise.all([h.trackRoom(1, a.m), h.trackRoom(1, b.m)])
    expect(bus.following.get('room:1')).toBe(1)
    expect(h.roomCount).toBe(1)
    h.untrackRoom(1, a.m)
    h.untrackRoom(1, a.m)
    expect(bus.following.get('room:1')).toBe(1)
    h.untrackRoom(1, b.m)
    expect(bus.following.has('room:1')).toBe(false)
    expect(h.roomCount).toBe(0)
    expect(h.deliveredSeq(1)).toBe(-1)
  })

  test('a followed room starts at its committed last_seq, read after the bus subscription is active', async () => {
    const { bus, chat, hub: h } = hub()
    chat.addRoom(1, [1])
    chat.store(1, 1)
    const subscribed = gate()
    bus.subscribeGate = subscribed.promise
    const ready = h.trackRoom(1, member(1).m)
    // committed before the subscription is active: the last_seq read after it covers it
    chat.store(1, 2)
    subscribed.open()
    await ready
    expect(h.deliveredSeq(1)).toBe(2)
  })

  test('message.created goes out in seq order, each once; a gap waits, then is read from the database', async () => {
    const { bus, chat, hub: h, seqsOut } = hub(10)
    chat.addRoom(1, [1])
    await h.trackRoom(1, member(1).m)
    chat.commit(1)
    chat.commit(1)
    expect(seqsOut(1)).toEqual([1, 2])
    // seq 3 committed on another node, its event not here (yet); 4 arrives first
    chat.store(1, 3)
    const four = chat.store(1, 4)
    bus.deliver('room:1', messageCreatedJson(four), { seq: 4 })
    expect(seqsOut(1)).toEqual([1, 2])
    await until(() => seqsOut(1).length === 4, 'the gap filled')
    // the late event, and 4 again, change nothing
    bus.deliver('room:1', messageCreatedJson(four), { seq: 4 })
    expect(seqsOut(1)).toEqual([1, 2, 3, 4])
    expect(h.delivered).toBe(4)
  })

  test('sequenced events of a room no local socket follows are dropped', () => {
    const { chat, published } = hub()
    chat.commit(5)
    expect(published).toEqual([])
  })

  test('catchUp publishes up to the committed last_seq and never moves the mark past it', async () => {
    const { chat, hub: h, seqsOut } = hub()
    chat.addRoom(1, [1])
    await h.trackRoom(1, member(1).m)
    chat.store(1, 1)
    chat.store(1, 2)
    expect(await h.catchUp(1, 99)).toBe(2)
    expect(seqsOut(1)).toEqual([1, 2])
    expect(h.deliveredSeq(1)).toBe(2)
  })

  test('after a relay reconnect every followed room catches up from the database', async () => {
    const { bus, chat, hub: h, seqsOut } = hub()
    chat.addRoom(1, [1])
    await h.trackRoom(1, member(1).m)
    chat.store(1, 1) // its event lost while the relay was down
    bus.triggerResync()
    await until(() => seqsOut(1).length === 1, 'the resync')
    expect(h.deliveredSeq(1)).toBe(1)
  })

  test('a room the bus cannot follow is dropped: trackRoom rejects and a later one starts afresh', async () => {
    const { bus, hub: h } = hub()
    bus.subscribeGate = Promise.reject(new Error('relay down'))
    bus.subscribeGate.catch(() => {})
    await expect(h.trackRoom(1, member(1).m)).rejects.toThrow('relay down')
    expect(h.roomCount).toBe(0)
    bus.subscribeGate = null
    await h.trackRoom(1, member(1).m)
    expect(h.deliveredSeq(1)).toBe(0)
  })

  test('users and spaces are followed on the bus once, while any local member needs them', () => {
    const { bus, hub: h } = hub()
    const a = member(1)
    const a2 = member(1)
    h.trackUser(a.m)
    h.trackUser(a2.m)
    h.trackSpace(10, a.m)
    h.trackSpace(10, a2.m)
    expect(bus.following.get('user:1')).toBe(1)
    expect(bus.following.get('space:10')).toBe(1)
    h.untrackUser(a.m)
    h.untrackSpace(10, a.m)
    expect(bus.following.get('user:1')).toBe(1)
    h.untrackUser(a2.m)
    h.untrackSpace(10, a2.m)
    expect([...bus.following.keys()]).toEqual([])
  })

  test('user-topic meta: joins and leaves reach every socket of that user only; the frame goes to the topic', () => {
    const { bus, hub: h, published } = hub()
    const a = member(1)
    const a2 = member(1)
    const b = member(2)
    for (const m of [a, a2, b]) h.trackUser(m.m)
    bus.publish('user:1', '{"type":"room.created"}', { join: 5, joinRooms: [6, 7], joinSpace: 3 })
    bus.publish('user:1', '{"type":"room.deleted"}', { leave: 5, leaveRooms: [6], leaveSpace: 3 })
    const expected = ['joinSpace 3', 'join 5', 'join 6', 'join 7', 'leaveSpace 3', 'leave 5', 'leave 6']
    expect(a.heard).toEqual(expected)
    expect(a2.heard).toEqual(expected)
    expect(b.heard).toEqual([])
    expect(published.map((p) => p.topic)).toEqual(['user:1', 'user:1'])
  })

  test('a revocation reaches the user’s sockets and is never published to clients', () => {
    const { bus, hub: h, published } = hub()
    const a = member(1)
    const b = member(2)
    h.trackUser(a.m)
    h.trackUser(b.m)
    bus.publish('user:1', '{"type":"login.revoked"}', { revokeLogin: 'login-x' })
    expect(a.heard).toEqual(['revoke login-x'])
    expect(b.heard).toEqual([])
    expect(published).toEqual([])
  })

  test('closeRoom drops the room from its members; closeSpace and space meta reach the space’s members', async () => {
    const { bus, hub: h } = hub()
    const a = member(1)
    const b = member(2)
    await h.trackRoom(1, a.m)
    h.trackSpace(10, a.m)
    h.trackSpace(10, b.m)
    bus.publish('room:1', '{"type":"room.deleted"}', { closeRoom: 1 })
    expect(a.heard).toEqual(['leave 1'])
    bus.publish('space:10', '{"type":"room.created"}', { joinRooms: [4] })
    expect(a.heard).toEqual(['leave 1', 'join 4'])
    expect(b.heard).toEqual(['join 4'])
    bus.publish('space:10', '{"type":"space.deleted"}', { closeSpace: 10 })
    expect(a.heard.at(-1)).toBe('leaveSpace 10')
    expect(b.heard.at(-1)).toBe('leaveSpace 10')
  })

  test('close stops every room', async () => {
    const { bus, hub: h } = hub()
    await h.trackRoom(1, member(1).m)
    await h.trackRoom(2, member(1).m)
    h.close()
    expect(h.roomCount).toBe(0)
    expect([...bus.following.keys()]).toEqual([])
  })
})
