import { AppError } from '../lib/errors'
import { retryAfterSeconds, type LimiterFactory } from './rate-limit'

export type AuthLimitsOptions = {
  /** register, login and refresh attempts per client per minute; 0 = no limit */
  perClientPerMinute: number
  /** failed logins per email per 15 minutes; 0 = no limit */
  loginFailuresPer15Min: number
}

export type AuthLimits = ReturnType<typeof createAuthLimits>

/** The failure counter's key: the email's digest (no addresses in Redis keys). */
const emailKey = (email: string) => new Bun.CryptoHasher('sha256').update(email).digest('hex').slice(0, 32)

const tooMany = (detail: string, ms: number) => new AppError('rate_limited', detail, retryAfterSeconds(ms))

/**
 * The two limits of API.md on register, login and refresh. Each is checked
 * before any password is hashed, so a refused attempt costs a counter update.
 */
export function createAuthLimits(limiters: LimiterFactory, o: AuthLimitsOptions) {
  const perClient = o.perClientPerMinute > 0
    ? limiters.create({ name: 'auth', points: o.perClientPerMinute, durationSec: 60 })
    : null
  const failures = o.loginFailuresPer15Min > 0
    ? limiters.create({ name: 'login-fail', points: o.loginFailuresPer15Min, durationSec: 15 * 60 })
    : null

  return {
    /** Counts one register, login or refresh attempt of `client`; throws 429 past RATE_AUTH. */
    async attempt(client: string): Promise<void> {
      if (!perClient) return
      const v = await perClient.consume(client)
      if (!v.ok) throw tooMany('Too many sign-in attempts from this address; retry later.', v.msBeforeNext)
    },

    /**
     * Counts a login attempt for `email` before its password is checked (so
     * that parallel guesses cannot overshoot the limit); throws 429 once
     * RATE_LOGIN_FAILURES attempts failed in the window. The caller then calls
     * `loginSucceeded` or `notChecked`; a failure keeps its count.
     */
    async loginAttempt(email: string): Promise<void> {
      if (!failures) return
      const v = await failures.consume(emailKey(email))
      if (!v.ok) throw tooMany('Too many failed logins for this account; retry later.', v.msBeforeNext)
    },

    /** The password was right: the account's failures are forgotten. */
    async loginSucceeded(email: string): Promise<void> {
      await failures?.reset(emailKey(email))
    },

    /** The password was never checked (e.g. the server was too busy): the attempt does not count. */
    async notChecked(email: string): Promise<void> {
      await failures?.refund(emailKey(email))
    },
  }
}
