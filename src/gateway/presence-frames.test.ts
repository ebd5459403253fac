import { describe, expect, test } from 'bun:test'
import type { ServerFrame } from '../protocol/server-frames'
import { fakeNode } from './testing'

/** A room of more than 50 members (the default PRESENCE_ROOM_MAX_MEMBERS of fakeNode's announcer). */
const crowd = (from: number) => Array.from({ length: 60 }, (_, i) => from + i)
const framesOf = (texts: string[]) => texts.map((t) => JSON.parse(t) as ServerFrame)

describe('presence.subscribe / presence.unsubscribe on a session (fake sockets, fake bus)', () => {
  test('a large room: presence only after presence.subscribe, on the room-presence topic followed on the bus; dropped on unsubscribe, leave and close', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, crowd(7))
    const watcher = await node.connect(7)
    await node.connect(8)
    expect(framesOf(watcher.socket.texts).filter((f) => f.type === 'presence')).toEqual([])
    // the announcement went to the room's presence topic, not the room
    expect(node.bus.published.filter((p) => p.frame.includes('"presence"')).map((p) => p.topic)).toEqual(['room-presence:1', 'room-presence:1'])

    await watcher.send({ type: 'presence.subscribe', room_id: 1 })
    expect(framesOf(watcher.socket.texts).at(-1)).toEqual({ type: 'presence.subscribed', room_id: 1 })
    expect(node.bus.following.get('room-presence:1')).toBe(1)
    await node.connect(9)
    expect(framesOf(watcher.socket.texts).filter((f) => f.type === 'presence').map((f) => f.type === 'presence' && f.user_id)).toEqual([9])

    await watcher.send({ type: 'presence.unsubscribe', room_id: 1 })
    expect(framesOf(watcher.socket.texts).at(-1)).toEqual({ type: 'presence.unsubscribed', room_id: 1 })
    expect(node.bus.following.has('room-presence:1')).toBe(false)
    await node.connect(10)
    expect(framesOf(watcher.socket.texts).filter((f) => f.type === 'presence')).toHaveLength(1)

    // removed from the room: the opt-in goes with it
    await watcher.send({ type: 'presence.subscribe', room_id: 1 })
    expect(node.bus.following.get('room-presence:1')).toBe(1)
    watcher.session.onLeave(1)
    expect(node.bus.following.has('room-presence:1')).toBe(false)
    expect(watcher.socket.topics.has('room-presence:1')).toBe(false)

    // closed: nothing followed any more
    await watcher.send({ type: 'presence.subscribe', room_id: 1 })
    await watcher.session.close()
    expect(node.bus.following.has('room-presence:1')).toBe(false)
  })

  test('channels of one large space share the space-presence topic: followed once, kept while one channel still wants it', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, crowd(7), 3)
    node.chat.addRoom(2, crowd(7), 3)
    const w = await node.connect(7)
    await w.send({ type: 'presence.subscribe', room_id: 1 })
    await w.send({ type: 'presence.subscribe', room_id: 2 })
    expect(node.bus.following.get('space-presence:3')).toBe(1)
    await node.connect(8)
    // once, not once per channel
    expect(framesOf(w.socket.texts).filter((f) => f.type === 'presence')).toHaveLength(1)
    await w.send({ type: 'presence.unsubscribe', room_id: 1 })
    expect(node.bus.following.get('space-presence:3')).toBe(1)
    await w.send({ type: 'presence.unsubscribe', room_id: 2 })
    expect(node.bus.following.has('space-presence:3')).toBe(false)
    // leaving the space drops them all
    await w.send({ type: 'presence.subscribe', room_id: 2 })
    w.session.onLeaveSpace(3)
    expect(node.bus.following.has('space-presence:3')).toBe(false)
  })

  test('a room the user is not in: not_member, nothing followed', async () => {
    const node = fakeNode()
    node.chat.addRoom(1, crowd(8))
    const w = await node.connect(7)
    await w.send({ type: 'presence.subscribe', room_id: 1 })
    expect(framesOf(w.socket.texts).at(-1)).toMatchObject({ type: 'error', code: 'not_member', room_id: 1 })
    expect(node.bus.following.has('room-presence:1')).toBe(false)
  })
})
