/**
 * The chat server's client SDK: a token-keeping REST client (typed through
 * Eden Treaty as `ChatClient.api`, or untyped through `call`) and the typed
 * WebSocket client (`ChatSocket`). Import from the repository's `client/`
 * (published as its own package).
 */
import { treaty, type Treaty } from '@elysiajs/eden'
import type { App } from './app-type'
import { ChatError, ChatSocket, type ChatSocketOptions, type Message } from './socket'

export { ChatError, ChatSocket }
export type { App }
/** The typed REST client: `api.v1.rooms.get()`, `api.v1.rooms({ id }).messages.post({ content })`. */
export type ChatApi = Treaty.Create<App>
export type { Member, Room, Space, SpaceMember, User } from '../../src/protocol/objects'
export type { ChatSocketOptions, ClientFrame, Message, ServerFrame, ServerFrameOf, ServerFrameType } from './socket'

export type Tokens = { access: string; refresh: string }

export type ChatClientOptions = {
  /**
   * Gateway mode (docs/gateway.md): the user is who the API gateway in front
   * says (its cookie or headers), so requests and sockets carry no token.
   */
  gateway?: boolean
}

export type UploadOptions = {
  /** the message's text beside the file */
  content?: string
  clientMsgId?: string
  /** bytes sent so far and the total, as the upload goes (in browsers, through XMLHttpRequest) */
  onProgress?: (sent: number, total: number) => void
  signal?: AbortSignal
}

/** The routes whose answer is a new session, and which never carry the old one. */
const SESSION_PATHS = ['/v1/auth/register', '/v1/auth/login', '/v1/auth/refresh']
/** The API path of a URL Eden built; the base URL may have a path of its own (a reverse proxy's prefix). */
const apiPath = (url: string) => {
  const path = new URL(url).pathname.replace(/\/$/, '')
  const at = path.indexOf('/v1/')
  return at < 0 ? path : path.slice(at)
}

/**
 * REST with the session's tokens: refreshes once on a 401 (POST /v1/auth/refresh,
 * which rotates the refresh token), and opens sockets that renew with the same tokens.
 */
export class ChatClient {
  private tokens: Tokens | null
  private refreshing: Promise<string> | null = null

  /**
   * Every REST route, typed from the server's `App` (Eden Treaty). Calls carry
   * the session's access token and, on a 401, refresh it once and retry, as
   * `call` does. Register, login and refresh through it adopt the session they
   * return (as `login()` does); logging out the session's refresh token ends it.
   * Answers are `{ data, error, status }`: a 4xx/5xx is `error.value`
   * (`{detail, code}`), never a throw.
   */
  readonly api: ChatApi

  constructor(
    readonly baseUrl: string,
    tokens: Tokens | null = null,
    private readonly onTokens?: (t: Tokens | null) => void,
    private readonly options: ChatClientOptions = {},
  ) {
    this.tokens = tokens
    // Bun's `typeof fetch` also has `preconnect`; elsewhere it is undefined and unused
    this.api = treaty<App>(baseUrl.replace(/\/$/, ''), { fetcher: Object.assign(this.apiFetch, { preconnect: fetch.preconnect }) })
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
        if (this.tokens) return this.tokens.access
        if (this.options.gateway) return null
        throw new ChatError('unauthorized', 'Not signed in.')
      },
      refresh: () => this.refresh(),
    })
  }

  /**
   * Sends a file to a room (`POST /v1/rooms/:id/attachments`, multipart) and
   * resolves with the message it became (type `image` or `file`). With
   * `onProgress`, in a browser, the bytes are sent through XMLHttpRequest,
   * which reports upload progress (fetch does not). Refreshes once on a 401;
   * a refusal throws a `ChatError` with the server's code (`too_large`, …).
   */
  async upload(roomId: number, file: Blob, opts: UploadOptions = {}): Promise<Message> {
    const form = () => {
      const f = new FormData()
      f.append('file', file, file instanceof File ? file.name : 'file')
      if (opts.content) f.append('content', opts.content)
      f.append('client_msg_id', (opts.clientMsgId ??= crypto.randomUUID()))
      return f
    }
    const url = `${this.baseUrl.replace(/\/$/, '')}/v1/rooms/${roomId}/attachments`
    const send = (): Promise<{ status: number; body: unknown }> => {
      const headers: Record<string, string> = this.tokens ? { authorization: `Bearer ${this.tokens.access}` } : {}
      const XHR = (globalThis as { XMLHttpRequest?: new () => Xhr }).XMLHttpRequest
      if (opts.onProgress && XHR) return xhrUpload(new XHR(), url, headers, form(), opts)
      return fetch(url, { method: 'POST', headers, body: form(), signal: opts.signal }).then(async (res) => ({
        status: res.status, body: await res.json().catch(() => null),
      }))
    }
    let res = await send()
    if (res.status === 401 && this.tokens) {
      await this.refresh()
      res = await send()
    }
    if (res.status >= 400) {
      const e = res.body as { code?: string; detail?: string } | null
      throw new ChatError(e?.code ?? String(res.status), e?.detail ?? `upload: ${res.status}`)
    }
    opts.onProgress?.(file.size, file.size)
    return res.body as Message
  }

  /** Eden's fetch: the session's token on every call but the session routes, one refresh and retry on 401. */
  private readonly apiFetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input)
    const path = apiPath(url)
    const session = SESSION_PATHS.includes(path)
    const send = () => {
      const headers = new Headers(init.headers)
      if (!session && this.tokens) headers.set('authorization', `Bearer ${this.tokens.access}`)
      return fetch(url, { ...init, headers })
    }
    let res = await send()
    if (res.status === 401 && !session && this.tokens) {
      await this.refresh()
      res = await send()
    }
    if (res.ok) await this.adoptSession(path, init.body, res)
    return res
  }

  /** Keeps the session a register/login/refresh answered with, and drops the one a logout ended. */
  private async adoptSession(path: string, body: RequestInit['body'], res: Response) {
    if (SESSION_PATHS.includes(path)) {
      const t = (await res.clone().json().catch(() => null)) as Partial<Tokens> | null
      if (typeof t?.access === 'string' && typeof t.refresh === 'string') this.setTokens({ access: t.access, refresh: t.refresh })
    } else if (path === '/v1/auth/logout' && this.tokens && typeof body === 'string') {
      let sent: unknown
      try {
        sent = (JSON.parse(body) as { refresh?: unknown } | null)?.refresh
      } catch {} // not the JSON Eden writes: not our logout
      if (sent === this.tokens.refresh) this.setTokens(null)
    }
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

/** The part of the browser's XMLHttpRequest an upload uses (the SDK's types do not assume the DOM library). */
type Xhr = {
  open(method: string, url: string): void
  setRequestHeader(name: string, value: string): void
  send(body: FormData): void
  abort(): void
  upload: { onprogress: ((e: { loaded: number; total: number }) => void) | null }
  onload: (() => void) | null
  onerror: (() => void) | null
  onabort: (() => void) | null
  readonly status: number
  readonly responseText: string
}

/** A multipart POST through XMLHttpRequest, for its upload progress events (browsers). */
function xhrUpload(xhr: Xhr, url: string, headers: Record<string, string>, body: FormData, opts: UploadOptions): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    xhr.open('POST', url)
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (e) => opts.onProgress?.(e.loaded, e.total)
    xhr.onload = () => {
      let parsed: unknown = null
      try {
        parsed = JSON.parse(xhr.responseText)
      } catch {} // not JSON: the status says what happened
      resolve({ status: xhr.status, body: parsed })
    }
    xhr.onerror = () => reject(new ChatError('network', 'The upload failed (network error).'))
    xhr.onabort = () => reject(new ChatError('aborted', 'The upload was cancelled.'))
    opts.signal?.addEventListener('abort', () => xhr.abort(), { once: true })
    xhr.send(body)
  })
}
