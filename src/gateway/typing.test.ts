import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { SocketTyping, TYPING_INTERVAL_MS, TYPING_RESTART_MS, TypingThrottle } from './typing'

setDefaultTimeout(60_000)

describe('typing', () => {
  test('the throttle allows one relay per user and room per interval, the edge included', () => {
    const throttle = new TypingThrottle()
    expect(throttle.allow(1, 1, 10_000)).toBe(true)
    expect(throttle.allow(1, 1, 10_000 + TYPING_INTERVAL_MS - 1)).toBe(false)
    expect(throttle.allow(1, 2, 10_001)).toBe(true)
    expect(throttle.allow(2, 1, 10_001)).toBe(true)
    expect(throttle.allow(1, 1, 10_000 + TYPING_INTERVAL_MS)).toBe(true)
  })

  test('a socket’s indicator: start relays (throttled), stop relays false once, stopAll clears every room', () => {
    const relayed: string[] = []
    const typing = new SocketTyping(1, new TypingThrottle(1000, 60_000), (roomId, on) => void relayed.push(`${roomId} ${on}`))
    typing.start(1, 5_000)
    typing.start(1, 5_500)
    typing.start(2, 5_500)
    typing.stop(1)
    typing.stop(1)
    typing.stopAll()
    expect(relayed).toEqual(['1 true', '2 true', '1 false', '2 false'])
  })

  test('after a stop, a start is relayed again from TYPING_RESTART_MS on, not a whole interval later', () => {
    const relayed: string[] = []
    const typing = new SocketTyping(1, new TypingThrottle(1000, 60_000), (roomId, on) => void relayed.push(`${roomId} ${on}`))
    typing.start(1, 5_000)
    typing.stop(1, 5_100) // e.g. the message was sent
    typing.start(1, 5_100 + TYPING_RESTART_MS - 1) // too soon: a flood stays bounded
    typing.stop(1, 5_400)
    typing.start(1, 5_400 + TYPING_RESTART_MS) // typing again: seen, well inside the 1 s interval
    typing.start(1, 5_900) // a refresh: still one per interval
    typing.stopAll()
    expect(relayed).toEqual(['1 true', '1 false', '1 false', '1 true', '1 false'])
  })
})
