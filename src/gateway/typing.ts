/** Typing relayed at most once per user, room and this many ms (per node, across the user's sockets). */
export const TYPING_INTERVAL_MS = 1000
/** After a stop, the next start is relayed once this long has passed (not a whole interval), ms. */
export const TYPING_RESTART_MS = 250
/** A typing indicator not refreshed for this long is cleared (is_typing false relayed), ms. */
export const TYPING_TTL_MS = 6000

/**
 * This node's typing limits: one relay per user and room per `intervalMs`,
 * whichever of the user's sockets types; `ttlMs` is how long an indicator
 * lives without a refresh.
 */
export class TypingThrottle {
  /** last relay per "user:room" on this node, ms since the epoch */
  private lastRelay = new Map<string, number>()

  constructor(
    readonly intervalMs: number = TYPING_INTERVAL_MS,
    readonly ttlMs: number = TYPING_TTL_MS,
  ) {}

  /** True when `userId` may relay typing in `roomId` at `now` (ms); counts it as relayed. */
  allow(userId: number, roomId: number, now: number): boolean {
    const key = `${userId}:${roomId}`
    if (now - (this.lastRelay.get(key) ?? 0) < this.intervalMs) return false
    // bounded: past 100k keys the expired ones go (they would allow a relay anyway)
    if (this.lastRelay.size > 100_000) {
      for (const [k, at] of this.lastRelay) if (now - at >= this.intervalMs) this.lastRelay.delete(k)
    }
    this.lastRelay.set(key, now)
    return true
  }

  /**
   * The user stopped typing in the room (said so, or went stale): a start is
   * news again, so the next one is relayed from `TYPING_RESTART_MS` on rather
   * than a whole interval after the last. Someone who sends and goes on
   * typing is seen typing again; a start/stop flood still relays at most
   * every `TYPING_RESTART_MS`.
   */
  stopped(userId: number, roomId: number, now: number) {
    const key = `${userId}:${roomId}`
    const last = this.lastRelay.get(key)
    if (last !== undefined) this.lastRelay.set(key, Math.min(last, now - this.intervalMs + TYPING_RESTART_MS))
  }
}

/**
 * One socket's typing indicators, per room: `start` relays (throttled) and
 * arms the stale-clear timer; `stop`, or no refresh within the TTL, relays
 * is_typing false once.
 */
export class SocketTyping {
  /** rooms where this socket's user is typing → the stale-clear timer */
  private staleTimers = new Map<number, ReturnType<typeof setTimeout>>()

  constructor(
    private readonly userId: number,
    private readonly throttle: TypingThrottle,
    /** sends the typing frame to the room's other sockets */
    private readonly relay: (roomId: number, isTyping: boolean) => void,
  ) {}

  start(roomId: number, now: number = Date.now()) {
    const previous = this.staleTimers.get(roomId)
    if (previous) clearTimeout(previous)
    this.staleTimers.set(roomId, setTimeout(() => this.stop(roomId), this.throttle.ttlMs))
    if (this.throttle.allow(this.userId, roomId, now)) this.relay(roomId, true)
  }

  stop(roomId: number, now: number = Date.now()) {
    const timer = this.staleTimers.get(roomId)
    if (!timer) return
    clearTimeout(timer)
    this.staleTimers.delete(roomId)
    this.throttle.stopped(this.userId, roomId, now)
    this.relay(roomId, false)
  }

  /** The socket closed: every indicator it showed is cleared. */
  stopAll() {
    for (const roomId of [...this.staleTimers.keys()]) this.stop(roomId)
  }
}
