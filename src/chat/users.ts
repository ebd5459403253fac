import { and, eq, isNull, or, sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { refreshTokens, users } from '../db/schema'
import { AppError, notFound, unauthorized, validation } from '../lib/errors'
import { iso } from '../lib/time'
import { cleanText, escapeLike, hasBadChars, isHttpUrl } from '../lib/text'
import type { Login, Register, UpdateProfile } from '../protocol/payloads'
import { dummyHash, type PasswordHasher } from '../auth/passwords'
import type { AuthLimits } from '../limits/auth-limits'
import { hashToken, newRefreshToken, type AccessTokens } from '../auth/tokens'
import type { PresenceInfo, PresenceStore } from '../presence/presence'
import { idList } from '../db/sql'
import { CacheLimits } from '../lib/limits'

/** User as API.md "Objects" defines it (public profile). */
export type User = {
  id: number
  email: string
  nickname: string
  avatar_url: string | null
  bio: string | null
  online: boolean
  last_seen: string | null
  created_at: string
}

type UserRow = typeof users.$inferSelect

export type Session = { user: User; access: string; refresh: string }

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export const normalizeEmail = (email: string) => email.trim().toLowerCase()

/** Trims, lower-cases and checks an email; throws 422 `validation`. */
export function cleanEmail(raw: string): string {
  const email = normalizeEmail(raw)
  if (!EMAIL.test(email) || email.length > 254 || hasBadChars(email)) throw validation('email: not a valid email address.')
  return email
}

/** An avatar or icon URL: null, or an absolute http(s) URL of at most 2048 characters. */
export function cleanUrl(field: string, raw: string | null): string | null {
  if (raw === null) return null
  const v = cleanText(field, raw, 1, 2048)
  if (!isHttpUrl(v)) throw validation(`${field}: must be an http(s) URL.`)
  return v
}

export type UsersDeps = {
  database: Database
  tokens: AccessTokens
  presence: PresenceStore
  refreshTtl: number
  /** password hashing with its concurrency bound */
  passwords: PasswordHasher
  /** RATE_AUTH and RATE_LOGIN_FAILURES */
  authLimits: AuthLimits
  /** A login (`sid`, its refresh-token family) was logged out or revoked: its sockets close on every node. */
  onLoginRevoked: (userId: number, sid: string) => void
  /** AUTH_MODE=gateway: unseen user ids in member lists become placeholder users */
  gatewayPlaceholders: boolean
}

export function createUsersService({
  database, tokens, presence, refreshTtl, passwords, authLimits, onLoginRevoked, gatewayPlaceholders,
}: UsersDeps) {
  const { db } = database

  const offline: PresenceInfo = { online: false, lastSeen: null }
  const toUser = (r: UserRow, p: PresenceInfo = offline): User => {
    return {
      id: r.id,
      email: r.email,
      nickname: r.nickname,
      avatar_url: r.avatarUrl,
      bio: r.bio,
      online: p.online,
      last_seen: p.lastSeen ?? iso(r.lastSeenAt),
      created_at: iso(r.createdAt)!,
    }
  }

  async function issue(userId: number, familyId: string): Promise<{ access: string; refresh: string }> {
    const refresh = newRefreshToken()
    await db.insert(refreshTokens).values({
      userId, familyId, tokenHash: hashToken(refresh), expiresAt: new Date(Date.now() + refreshTtl * 1000),
    })
    // the access token names its login (sid = the refresh-token family), so revoking the login reaches its sockets
    return { access: await tokens.sign(userId, familyId), refresh }
  }

  async function byId(id: number): Promise<UserRow> {
    const [row] = await db.select().from(users).where(eq(users.id, id))
    if (!row) throw notFound('User')
    return row
  }

  /** gateway users upserted lately, so that a request does not write the row again */
  const gatewaySeen = new Map<number, { key: string; at: number }>()

  /** Public profiles with presence, in the order of `rows`. */
  async function profiles(rows: UserRow[]): Promise<User[]> {
    const p = await presence.getMany(rows.map((r) => r.id))
    return rows.map((r) => toUser(r, p.get(r.id)))
  }
  const profile = async (r: UserRow) => (await profiles([r]))[0]!

  return {
    profiles,

    /** Public profiles of `ids` (unknown ids left out), in no particular order. */
    async byIds(ids: number[]): Promise<User[]> {
      if (ids.length === 0) return []
      const rows = await database.db.select().from(users)
        .where(sql`${users.id} in ${idList(ids)}`)
      return profiles(rows)
    },

    /** `client`: the caller's rate-limit key (src/http/client-ip.ts), here and in login and refresh. */
    async register(input: Register, client: string): Promise<Session> {
      await authLimits.attempt(client)
      const email = cleanEmail(input.email)
      if (input.password.length < 8) throw validation('password: must be at least 8 characters.')
      if (input.password.length > 1024) throw validation('password: must be at most 1024 characters.')
      if (input.password_confirm !== undefined && input.password_confirm !== input.password) {
        throw validation('password_confirm: does not match password.')
      }
      const nickname = cleanText('nickname', input.nickname, 1, 50)
      const passwordHash = await passwords.hash(input.password, client)
      const [row] = await db
        .insert(users)
        .values({ email, passwordHash, nickname })
        .onConflictDoNothing({ target: users.email })
        .returning()
      if (!row) throw new AppError('email_taken', 'This email is already registered.')
      return { user: await profile(row), ...(await issue(row.id, crypto.randomUUID())) }
    },

    async login(input: Login, client: string): Promise<Session> {
      await authLimits.attempt(client)
      const email = normalizeEmail(input.email)
      if (hasBadChars(email) || hasBadChars(input.password)) throw validation('email: not a valid email address.')
      await authLimits.loginAttempt(email)
      let ok: boolean
      let row: UserRow | undefined
      try {
        ;[row] = await db.select().from(users).where(eq(users.email, email))
        ok = await passwords.verify(input.password, row?.passwordHash ?? (await dummyHash), client)
      } catch (err) {
        // nothing was checked (busy, database down): the attempt is not a failed login
        await authLimits.notChecked(email).catch(() => {})
        throw err
      }
      if (!row || !row.passwordHash || !ok) throw unauthorized('Wrong email or password.')
      await authLimits.loginSucceeded(email)
      return { user: await profile(row), ...(await issue(row.id, crypto.randomUUID())) }
    },

    /** Rotates a refresh token; reuse of a revoked one revokes its whole family. */
    async refresh(token: string, client: string): Promise<{ access: string; refresh: string }> {
      await authLimits.attempt(client)
      const hash = hashToken(token)
      const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hash))
      if (!row) throw unauthorized('The refresh token is invalid.')
      if (row.revokedAt) {
        await db.update(refreshTokens).set({ revokedAt: new Date() })
          .where(and(eq(refreshTokens.familyId, row.familyId), isNull(refreshTokens.revokedAt)))
        onLoginRevoked(row.userId, row.familyId)
        throw unauthorized('The refresh token was already used; this login is revoked.')
      }
      if (row.expiresAt.getTime() <= Date.now()) throw unauthorized('The refresh token has expired.')
      // conditional revoke: of two concurrent uses, exactly one wins
      const won = await db.update(refreshTokens).set({ revokedAt: new Date() })
        .where(and(eq(refreshTokens.id, row.id), isNull(refreshTokens.revokedAt))).returning({ id: refreshTokens.id })
      if (won.length === 0) {
        await db.update(refreshTokens).set({ revokedAt: new Date() }).where(eq(refreshTokens.familyId, row.familyId))
        onLoginRevoked(row.userId, row.familyId)
        throw unauthorized('The refresh token was already used; this login is revoked.')
      }
      return issue(row.userId, row.familyId)
    },

    /** Revokes the login (token family) the refresh token belongs to; its sockets close (4001) on every node. */
    async logout(token: string): Promise<void> {
      const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hashToken(token)))
      if (!row || row.revokedAt) throw unauthorized('The refresh token is invalid or already revoked.')
      await db.update(refreshTokens).set({ revokedAt: new Date() })
        .where(and(eq(refreshTokens.familyId, row.familyId), isNull(refreshTokens.revokedAt)))
      onLoginRevoked(row.userId, row.familyId)
    },

    /** True while the login `sid` (a refresh-token family) is neither logged out nor revoked nor expired. */
    async loginActive(sid: string): Promise<boolean> {
      const [row] = await db.select({ id: refreshTokens.id }).from(refreshTokens)
        .where(and(eq(refreshTokens.familyId, sid), isNull(refreshTokens.revokedAt), sql`${refreshTokens.expiresAt} > now()`))
        .limit(1)
      return row !== undefined
    },

    async get(id: number): Promise<User> {
      return profile(await byId(id))
    },

    /** Throws not_found unless every id is a user. */
    /**
     * 404 unless every id is a user. In gateway mode, ids the server has not
     * seen yet become placeholder users ("user <id>") that take their real
     * profile on their first request.
     */
    async requireAll(ids: number[]): Promise<void> {
      if (ids.length === 0) return
      if (gatewayPlaceholders) {
        await database.rows(
          sql`insert into users (id, email, nickname)
              select value, 'user-' || value || '@placeholder.invalid', 'user ' || value
              from ${idList(ids)} ids
              on conflict do nothing`,
        )
      }
      const found = await database.rows<{ id: number }>(
        sql`select id from users where id in ${idList(ids)}`,
      )
      if (found.length !== new Set(ids).size) throw notFound('User')
    },

    async update(id: number, patch: UpdateProfile): Promise<User> {
      const set: Partial<UserRow> = {}
      if (patch.nickname !== undefined) set.nickname = cleanText('nickname', patch.nickname, 1, 50)
      if (patch.avatar_url !== undefined) set.avatarUrl = cleanUrl('avatar_url', patch.avatar_url)
      if (patch.bio !== undefined) set.bio = patch.bio === null ? null : cleanText('bio', patch.bio, 0, 500)
      if (Object.keys(set).length === 0) return profile(await byId(id))
      const [row] = await db.update(users).set(set).where(eq(users.id, id)).returning()
      if (!row) throw notFound('User')
      return profile(row)
    },

    /** Prefix match on nickname (case-insensitive) or email. */
    async search(query: string, limit: number): Promise<User[]> {
      const q = query.trim().toLowerCase()
      if (q.length === 0) return []
      if (hasBadChars(q)) throw validation('query: contains invalid characters (NUL or a lone surrogate).')
      const pattern = escapeLike(q) + '%'
      const rows = await db.select().from(users)
        .where(or(sql`lower(${users.nickname}) like ${pattern}`, sql`${users.email} like ${pattern}`))
        .orderBy(users.nickname, users.id)
        .limit(limit)
      return profiles(rows)
    },

    /**
     * Creates or updates the user the API gateway vouches for (AUTH_MODE=gateway),
     * under the gateway's id. An email held by another user is a 409.
     */
    async ensureGatewayUser(u: { id: number; nickname: string; email: string; avatar: string | null }): Promise<void> {
      const nickname = cleanText('nickname', u.nickname, 1, 50)
      const email = cleanEmail(u.email)
      // the gateway vouches for who the user is, not for what a page may load: a non-http(s) avatar is dropped
      const avatar = u.avatar !== null && isHttpUrl(u.avatar) && !hasBadChars(u.avatar) ? u.avatar : null
      const key = `${nickname}\n${email}\n${avatar ?? ''}`
      const seen = gatewaySeen.get(u.id)
      if (seen && seen.key === key && Date.now() - seen.at < CacheLimits.gatewayUsers.ttlMs) return
      try {
        await db.insert(users).values({ id: u.id, email, nickname, avatarUrl: avatar })
          .onConflictDoUpdate({ target: users.id, set: { email, nickname, avatarUrl: avatar } })
      } catch (err) {
        if (String((err as { code?: string }).code ?? err).includes('23505')) {
          throw new AppError('email_taken', 'The gateway user’s email belongs to another user.')
        }
        throw err
      }
      if (gatewaySeen.size > CacheLimits.gatewayUsers.max) gatewaySeen.clear()
      gatewaySeen.set(u.id, { key, at: Date.now() })
    },
  }
}

export type UsersService = ReturnType<typeof createUsersService>
