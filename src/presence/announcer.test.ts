import { describe, expect, test } from 'bun:test'
import { PresenceAnnouncer, presenceTopics, type AnnouncerClock, type PresenceAudience } from './announcer'

/** A clock whose timers fire only when the test advances it. */
class FakeClock implements AnnouncerClock {
  now = 0
  private timers = new Map<number, { at: number; fn: () => void }>()
  private next = 1
  setTimeout(fn: () => void, ms: number) {
    const id = this.next++
    this.timers.set(id, { at: this.now + ms, fn })
    return id
  }
  clearTimeout(h: unknown) {
    this.timers.delete(h as number)
  }
  /** Moves time forward, firing due timers in order (a timer may set another). */
  advance(ms: number) {
    const end = this.now + ms
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0]
      if (!due) break
      this.timers.delete(due[0])
      this.now = due[1].at
      due[1].fn()
    }
    this.now = end
  }
  get pending() {
    return this.timers.size
  }
}

const W = 1000
const small: PresenceAudience = { rooms: [{ id: 1, members: 2 }], spaces: [] }

function setup(o: { coalesceMs?: number; roomMaxMembers?: number } = {}) {
  const clock = new FakeClock()
  const sent: { topic: string; frame: { user_id: number; status: string; last_seen: string | null }; at: number }[] = []
  const a = new PresenceAnnouncer({
    publish: (topic, json) => sent.push({ topic, frame: JSON.parse(json), at: clock.now }),
    coalesceMs: o.coalesceMs ?? W, roomMaxMembers: o.roomMaxMembers ?? 50, clock,
  })
  const online = (user = 7, audience = small) => a.announce(user, { status: 'online', nickname: `u${user}`, lastSeen: null }, audience)
  const offline = (user = 7, audience = small, at = '2026-12-03T12:00:00.000Z') =>
    a.announce(user, { status: 'offline', nickname: `u${user}`, lastSeen: at }, audience)
  const statuses = (topic?: string) => sent.filter((s) => topic === undefined || s.topic === topic).map((s) => s.frame.status)
  return { clock, sent, a, online, offline, statuses }
}

describe('PresenceAnnouncer', () => {
  test('a first change goes out at once, as the contract frame', () => {
    const { sent, online } = setup()
    online()
    expect(sent).toEqual([{ topic: 'room:1', frame: { type: 'presence', user_id: 7, nickname: 'u7', status: 'online', last_seen: null }, at: 0 } as never])
  })

  test('online → offline → online inside one window collapses: nothing more, and the window closes', () => {
    const { clock, a, online, offline, statuses } = setup()
    online()
    clock.advance(100)
    offline()
    clock.advance(100)
    online()
    clock.advance(W)
    expect(statuses()).toEqual(['online'])
    expect(a.open).toBe(0)
    expect(clock.pending).toBe(0)
  })

  test('a flap that ends in another state: that state goes out when the window ends, with the last last_seen', () => {
    const { clock, sent, online, offline } = setup()
    online()
    // 10 flaps in 800 ms, ending offline
    for (let i = 0; i < 10; i++) {
      clock.advance(40)
      offline(7, small, `2026-12-03T12:00:0${i}.000Z`)
      clock.advance(40)
      if (i < 9) online()
    }
    expect(sent.map((s) => s.frame.status)).toEqual(['online'])
    clock.advance(W)
    expect(sent.map((s) => [s.frame.status, s.at])).toEqual([['online', 0], ['offline', W]])
    expect(sent[1]!.frame.last_seen).toBe('2026-12-03T12:00:09.000Z')
  })

  test('a long flapping stream: at most one event per user and room per window', () => {
    const { clock, sent, online, offline } = setup()
    for (let t = 0; t < 20 * W; t += 37) {
      if ((t / 37) % 2 === 0) online()
      else offline()
      clock.advance(37)
    }
    clock.advance(2 * W)
    const times = sent.map((s) => s.at)
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(W)
    // and it ends on the last state reported (offline: 20*W/37 rounds down to an odd count of steps)
    const last = (Math.ceil((20 * W) / 37) - 1) % 2 === 0 ? 'online' : 'offline'
    expect(sent.at(-1)!.frame.status).toBe(last)
  })

  test('users are paced separately', () => {
    const { clock, statuses, online, offline, sent } = setup()
    online(7)
    online(8)
    offline(7)
    expect(sent.map((s) => [s.frame.user_id, s.frame.status])).toEqual([[7, 'online'], [8, 'online']])
    clock.advance(W)
    expect(statuses()).toEqual(['online', 'online', 'offline'])
  })

  test('a room the user joined inside the window still hears the state it never heard', () => {
    const { clock, online, offline, sent } = setup()
    online(7, small)
    offline()
    const more: PresenceAudience = { rooms: [{ id: 1, members: 2 }, { id: 2, members: 3 }], spaces: [] }
    online(7, more)
    clock.advance(W)
    expect(sent.map((s) => [s.topic, s.frame.status])).toEqual([['room:1', 'online'], ['room:2', 'online']])
  })

  test('PRESENCE_COALESCE_MS=0: every change at once, no timer', () => {
    const { clock, online, offline, statuses } = setup({ coalesceMs: 0 })
    online()
    offline()
    online()
    expect(statuses()).toEqual(['online', 'offline', 'online'])
    expect(clock.pending).toBe(0)
  })

  test('close sends what is pending and differs, and stops the timers', () => {
    const { clock, a, online, offline, statuses } = setup()
    online(7)
    online(8)
    offline(7)
    offline(8)
    online(8)
    a.close()
    expect(statuses()).toEqual(['online', 'online', 'offline'])
    expect(clock.pending).toBe(0)
    // after close: nothing is held any more
    online(7)
    expect(statuses()).toEqual(['online', 'online', 'offline', 'online'])
  })

  test('rooms and spaces above the size go to their presence topics; spaces once, not per channel', () => {
    const audience: PresenceAudience = {
      rooms: [{ id: 1, members: 50 }, { id: 2, members: 51 }],
      spaces: [{ id: 3, members: 10 }, { id: 4, members: 1000 }],
    }
    expect(presenceTopics(audience, 50)).toEqual(['room:1', 'room-presence:2', 'space:3', 'space-presence:4'])
    expect(presenceTopics(audience, 0)).toEqual(['room-presence:1', 'room-presence:2', 'space-presence:3', 'space-presence:4'])
    const { online, sent } = setup()
    online(7, audience)
    // serialized once, the same frame on each topic
    expect(new Set(sent.map((s) => JSON.stringify(s.frame))).size).toBe(1)
    expect(sent.map((s) => s.topic)).toEqual(['room:1', 'room-presence:2', 'space:3', 'space-presence:4'])
  })
})
