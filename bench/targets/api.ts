/**
 * The slice of API.md's REST routes the bench seeds with. Our server and
 * both baselines answer the same calls, so one workload drives all three.
 */

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, detail: string) {
    super(`${status} ${code}: ${detail}`)
  }
}

export type Session = { id: number; access: string }
export type RoomInfo = { id: number; member_count: number; max_members: number }

export class Api {
  constructor(readonly base: string) {}

  async call<T>(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = {}
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    })
    const text = await res.text()
    const parsed = (text ? JSON.parse(text) : null) as T
    return { status: res.status, body: parsed }
  }

  async ok<T>(method: string, path: string, token: string | null, body?: unknown): Promise<T> {
    const r = await this.call<T & { code?: string; detail?: string }>(method, path, token, body)
    if (r.status >= 300) throw new ApiError(r.status, r.body?.code ?? '?', r.body?.detail ?? JSON.stringify(r.body))
    return r.body
  }

  async register(email: string, nickname: string): Promise<Session> {
    const r = await this.ok<{ user: { id: number }; access: string }>('POST', '/v1/auth/register', null, {
      email, password: 'bench-password-1', nickname,
    })
    return { id: r.user.id, access: r.access }
  }

  async createRoom(token: string, name: string): Promise<RoomInfo> {
    return this.ok<RoomInfo>('POST', '/v1/rooms', token, { type: 'group', name, visibility: 'public' })
  }

  async addMembers(token: string, roomId: number, userIds: number[]): Promise<void> {
    await this.ok('POST', `/v1/rooms/${roomId}/members`, token, { user_ids: userIds })
  }

  /** A public space; answers its id and its general channel's id. */
  async createSpace(token: string, name: string): Promise<{ id: number; general_channel_id: number }> {
    return this.ok('POST', '/v1/spaces', token, { name, visibility: 'public' })
  }

  async joinSpace(token: string, spaceId: number): Promise<void> {
    await this.ok('POST', `/v1/spaces/${spaceId}/join`, token, {})
  }

  /** Status and error code of a join: 200 joined (or already in), 422 room_full, … */
  async join(token: string, roomId: number): Promise<{ status: number; code: string | null }> {
    const r = await this.call<{ code?: string }>('POST', `/v1/rooms/${roomId}/join`, token)
    return { status: r.status, code: r.status >= 300 ? (r.body?.code ?? null) : null }
  }

  async room(token: string, roomId: number): Promise<RoomInfo> {
    return this.ok<RoomInfo>('GET', `/v1/rooms/${roomId}`, token)
  }

  async memberCount(token: string, roomId: number): Promise<number> {
    const r = await this.ok<{ members: unknown[] }>('GET', `/v1/rooms/${roomId}/members`, token)
    return r.members.length
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const run = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run))
  return out
}
