/**
 * The chat server's client SDK: a token-keeping REST helper and the typed
 * WebSocket client (`ChatSocket`). Import from the repository's `client/`
 * (published as its own package).
 */
import { ChatError, ChatSocket, type ChatSocketOptions } from './socket'

export { ChatError, ChatSocket }
export type { ChatSocketOptions, ClientFrame, Message, ServerFrame, ServerFrameOf, ServerFrameType } from './socket'

export type Tokens = { access: string; refresh: string }

/**
 * REST with the session's tokens: refreshes once on a 401 (POST /v1/auth/refresh,
 * which rotates the refresh token), and opens sockets that renew with the same tokens.
 */
export class ChatClient {
  private tokens: Tokens | null
  private refreshing: Promise<string> | null = null

  constructor(readonly baseUrl: string, tokens: Tokens | null = null, private readonly onTokens?: (t: Tokens | null) => void) {
    this.tokens = tokens
  }

  get session(): Tokens | null {
    return this.tokens
  }

  async register(email: string, password: string, nickname: string): Promise<void> {
    this.setTokens(await this.call<Tokens>('POST', '/v1/auth/register', { email, password, nickname }, false))
  }

  async login(email: string, password: string): Promise<void> {
    this.setTokens(await this.call<Tokens>('POST', '/v1/auth/login', { email, password }, false))
  }

  /** Revokes the session (its sockets close with 4001 everywhere). */
  async logout(): Promise<void> {
    if (this.tokens) await this.call('POST', '/v1/auth/logout', { refresh: this.tokens.refresh }).catch(() => {})
    this.setTokens(null)
  }

  /** A fresh access token; concurrent callers share one refresh. */
  refresh(): Promise<string> {
    return (this.refreshing ??= (async () => {
      if (!this.tokens) throw new ChatError('unauthorized', 'Not signed in.')
      const t = await this.call<Tokens>('POST', '/v1/auth/refresh', { refresh: this.tokens.refresh }, false)
      this.setTokens(t)
      return t.access
    })().finally(() => {
      this.refreshing = null
    }))
  }

  /** A REST call with the access token; one refresh and retry on 401. */
  async call<T = unknown>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const res = await this.fetch(method, path, body, auth)
    if (res.status === 401 && auth && this.tokens) {
      await this.refresh()
      return this.parse<T>(await this.fetch(method, path, body, auth))
    }
    return this.parse<T>(res)
  }

  /** A socket of this session (docs/protocol.md), resuming and renewing by itself. */
  socket(options: Partial<Omit<ChatSocketOptions, 'token' | 'refresh'>> = {}): ChatSocket {
    return new ChatSocket({
      urls: [this.baseUrl],
      ...options,
      token: () => {
        if (!this.tokens) throw new ChatError('unauthorized', 'Not signed in.')
        return this.tokens.access
      },
      refresh: () => this.refresh(),
    })
  }

  private setTokens(t: Tokens | null) {
    this.tokens = t ? { access: t.access, refresh: t.refresh } : null
    this.onTokens?.(this.tokens)
  }

  private fetch(method: string, path: string, body: unknown, auth: boolean): Promise<Response> {
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (auth && this.tokens) headers.authorization = `Bearer ${this.tokens.access}`
    return fetch(this.baseUrl.replace(/\/$/, '') + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  }

  private async parse<T>(res: Response): Promise<T> {
    const data = res.status === 204 ? null : ((await res.json().catch(() => null)) as unknown)
    if (!res.ok) {
      const e = data as { code?: string; detail?: string } | null
      throw new ChatError(e?.code ?? String(res.status), e?.detail ?? res.statusText)
    }
    return data as T
  }
}
