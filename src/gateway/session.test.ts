import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { CloseCode } from '../protocol/frames'
import { Session, SLOW_DRAIN_MS, type SessionDeps, type SessionHooks, type SocketLike } from './session'

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
