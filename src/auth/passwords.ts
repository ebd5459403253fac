import { availableParallelism } from 'node:os'
import { AppError } from '../lib/errors'
import { createFairGate, GateFull } from '../lib/fair-gate'

/**
 * argon2id at OWASP's recommended minimum (19 MiB, 2 passes): strong enough,
 * and cheap enough that a node can seed thousands of bench users.
 */
const params = { algorithm: 'argon2id', memoryCost: 19_456, timeCost: 2 } as const

const rawHash = (password: string) => Bun.password.hash(password, params)
const rawVerify = (password: string, hash: string) => Bun.password.verify(password, hash)

/** A hash to verify against when the email is unknown, so timing does not tell. */
export const dummyHash = rawHash('dummy-password-for-timing')

export type PasswordHasherOptions = {
  /** hashes running at once (each holds 19 MiB and a core); default: the number of cores */
  concurrency?: number
  /** hashes waiting at most, all clients together; past it 503 `unavailable` */
  maxQueued?: number
  /** hashes of one client waiting at most; past it 429 `rate_limited` */
  maxQueuedPerClient?: number
  /** the hashing functions (tests count and hold them) */
  impl?: { hash: (password: string) => Promise<string>; verify: (password: string, hash: string) => Promise<boolean> }
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>

/**
 * Password hashing behind a fair gate: a burst of logins waits instead of
 * running hundreds of 19 MiB argon2 hashes at once, and one client's burst
 * waits behind its own requests, not everybody's (round-robin per client key).
 * The wait is bounded: a full queue answers at once and hashes nothing.
 */
export function createPasswordHasher(o: PasswordHasherOptions = {}) {
  const impl = o.impl ?? { hash: rawHash, verify: rawVerify }
  const gate = createFairGate({
    concurrency: o.concurrency ?? Math.max(1, availableParallelism()),
    maxQueued: o.maxQueued ?? 512,
    maxQueuedPerKey: o.maxQueuedPerClient ?? 256,
  })

  async function gated<T>(client: string, job: () => Promise<T>): Promise<T> {
    try {
      return await gate.run(client, job)
    } catch (err) {
      if (!(err instanceof GateFull)) throw err
      if (err.scope === 'key') throw new AppError('rate_limited', 'Too many sign-in attempts at once; retry shortly.', 1)
      throw new AppError('unavailable', 'The server is busy; retry shortly.', 1)
    }
  }

  return {
    /** running, queued, and their peaks since start */
    stats: gate.stats,
    hash: (password: string, client: string) => gated(client, () => impl.hash(password)),
    verify: (password: string, hash: string, client: string) => gated(client, () => impl.verify(password, hash)),
  }
}
