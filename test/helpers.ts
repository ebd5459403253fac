import postgres from 'postgres'
import { createChatServer, type ChatServer } from '../src/app'
import { loadConfig, type Config } from '../src/config'
import type { Database } from '../src/db/client'
import { silentLogger } from '../src/lib/logger'

/** Real Postgres for the suites when set (CI runs both ways). */
export const PG_URL = process.env.TEST_DATABASE_URL
export const REDIS_URL = process.env.TEST_REDIS_URL
/** host:port,… of a Redis Cluster: the multi-node suites run on it too (sharded pub/sub) */
export const REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER_NODES
export const backend = PG_URL ? 'postgres' : 'pglite'

/**
 * Statements a test that counts a request's statements must leave out: the
 * node's background jobs (search indexer, retention sweep, room purge, batch
 * outcome pruning: their statements and their transactions' control), and
 * postgres.js reading the array types once on each new pooled connection
 * (so whether a request happened to open a connection changes nothing).
 */
export const BACKGROUND_STATEMENT =
  /search_queue|search_index|retention_days|room_purges|writer_batches|pg_try_advisory|pg_catalog\.pg_type|^\s*(begin|commit|rollback|set local)\b/i

/**
 * `database` with every compiled statement (the writer's one-statement path)
 * run through `around`: for tests that hold, fail or count those statements.
 */
export function aroundCompiled(database: Database, around: <T>(run: () => Promise<T[]>) => Promise<T[]>): Database {
  return {
    ...database,
    compile: <T, P extends Record<string, unknown>>(q: Parameters<Database['compile']>[0]) => {
      const run = database.compile<T, P>(q)
      return (values: P) => around(() => run(values))
    },
  }
}

/** Creates an empty database on TEST_DATABASE_URL's server; returns its URL and a dropper. */
export async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!PG_URL) throw new Error('TEST_DATABASE_URL is not set')
  const name = `chat_t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const u = new URL(PG_URL)
  u.pathname = `/${name}`
  return {
    url: u.toString(),
    drop: async () => {
      const a = postgres(PG_URL, { max: 1, onnotice: () => {} })
      await a.unsafe(`drop database if exists ${name} with (force)`).catch(() => {})
      await a.end()
    },
  }
}

/** A test database URL: a fresh Postgres database, or memory:// for PGlite. */
export async function testDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  return PG_URL ? freshPostgres() : { url: 'memory://', drop: async () => {} }
}

export type TestServer = {
  chat: ChatServer
  url: string
  wsUrl: string
  config: Config
  api: Api
  close(): Promise<void>
}

/** Starts a node on 127.0.0.1 and a free port, on its own database unless `databaseUrl` is given. */
export async function startServer(env: Record<string, string> = {}, databaseUrl?: string): Promise<TestServer> {
  const db = databaseUrl ? { url: databaseUrl, drop: async () => {} } : await testDatabase()
  const config = loadConfig({
    PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, JWT_SECRET: 'test-secret', LOG_LEVEL: 'error',
    NODE_ID: `test-${Math.random().toString(36).slice(2, 6)}`, RATE_AUTH: '1000000',
    // WS_TRANSPORT=elysia bun test …: the socket suites on Elysia's ws() routes
    ...(process.env.WS_TRANSPORT ? { WS_TRANSPORT: process.env.WS_TRANSPORT } : {}), ...env,
  })
  const chat = await createChatServer(config, silentLogger)
  const server = chat.listen()
  const url = server.url.href.replace(/\/$/, '')
  return {
    chat, url, config, wsUrl: url.replace(/^http/, 'ws'), api: api(url),
    close: async () => {
      await chat.close()
      await db.drop()
    },
  }
}

export type ApiResponse<T = any> = { status: number; body: T; headers: Headers } // any: test bodies are asserted field by field
export type Api = (method: string, path: string, opts?: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> }) => Promise<ApiResponse>

export function api(base: string): Api {
  return async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`
    let body: string | undefined
    if (opts.raw !== undefined) body = opts.raw
    else if (opts.body !== undefined) body = JSON.stringify(opts.body)
    if (body !== undefined) headers['content-type'] ??= 'application/json'
    // a fresh connection each time: test servers come and go, and a pooled keep-alive connection to a
    // closed server whose port a new one got fails with ECONNRESET
    const res = await fetch(base + path, { method, headers, body, keepalive: false })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers } as ApiResponse
  }
}

let seq = 0
export type TestUser = { id: number; token: string; refresh: string; email: string; nickname: string }

/** Registers a fresh user. */
export async function register(a: Api, nickname = `user${++seq}`): Promise<TestUser> {
  const email = `${nickname}.${Date.now()}.${++seq}@example.com`
  const r = await a('POST', '/v1/auth/register', { body: { email, password: 'password123', nickname } })
  if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`)
  return { id: r.body.user.id, token: r.body.access, refresh: r.body.refresh, email, nickname }
}

/** Creates a group room owned by `owner` with `members` in it. */
export async function groupRoom(a: Api, owner: TestUser, members: TestUser[] = [], extra: Record<string, unknown> = {}) {
  const r = await a('POST', '/v1/rooms', {
    token: owner.token, body: { type: 'group', name: 'room', member_ids: members.map((m) => m.id), ...extra },
  })
  if (r.status !== 201) throw new Error(`create room failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body as { id: number; [k: string]: unknown }
}

export type Frame = { type: string; [k: string]: any } // any: frames are asserted field by field

/** A WebSocket client for tests: every frame is kept; wait for the next one matching. */
export class TestSocket {
  readonly frames: Frame[] = []
  private cursor = 0
  private waiters: (() => void)[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  readonly opened: Promise<void>
  readonly ws: WebSocket

  /** `options`: subprotocols, or Bun's `{headers}` (a cookie, say) */
  constructor(url: string, options?: string[] | { headers: Record<string, string> }) {
    // Bun's WebSocket also takes {headers}; the DOM typing knows only subprotocols
    this.ws = new WebSocket(url, options as string[] | undefined)
    this.ws.onmessage = (e) => {
      this.frames.push(JSON.parse(String(e.data)) as Frame)
      for (const w of this.waiters.splice(0)) w()
    }
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve()
      this.ws.onerror = () => reject(new Error('socket error'))
    })
    this.closed = new Promise((resolve) => {
      this.ws.onclose = (e) => {
        resolve({ code: e.code, reason: e.reason })
        for (const w of this.waiters.splice(0)) w()
      }
    })
  }

  static async open(url: string, protocols?: string[]): Promise<TestSocket> {
    const s = new TestSocket(url, protocols)
    await s.opened
    await s.next('ready')
    return s
  }

  send(frame: object | string) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** Sends `subscribe` for a room and waits for its `subscribed` answer (so no room event can slip past). */
  async subscribe(roomId: number, extra: Record<string, unknown> = {}): Promise<Frame> {
    this.send({ type: 'subscribe', room_id: roomId, ...extra })
    return this.next((f) => f.type === 'subscribed' && f.room_id === roomId)
  }

  /** The next frame (after the last one returned) that matches; fails after `ms` (generous: the box is loaded). */
  async next(match: string | ((f: Frame) => boolean), ms = 15_000): Promise<Frame> {
    const pred = typeof match === 'string' ? (f: Frame) => f.type === match : match
    const deadline = Date.now() + ms
    for (;;) {
      while (this.cursor < this.frames.length) {
        const f = this.frames[this.cursor++]!
        if (pred(f)) return f
      }
      const left = deadline - Date.now()
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`no frame matching ${typeof match === 'string' ? match : 'predicate'}; got ${JSON.stringify(this.frames.slice(-5))}`)
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, left)
        this.waiters.push(() => {
          clearTimeout(t)
          r()
        })
      })
    }
  }

  /** All frames of a type received so far. */
  all(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type)
  }

  /** Waits until `n` frames of `type` (matching) have arrived in total. */
  async waitCount(type: string, n: number, ms = 20_000, pred: (f: Frame) => boolean = () => true): Promise<Frame[]> {
    const deadline = Date.now() + ms
    for (;;) {
      const got = this.frames.filter((f) => f.type === type && pred(f))
      if (got.length >= n) return got
      if (Date.now() > deadline) throw new Error(`only ${got.length}/${n} ${type} frames`)
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50)
        this.waiters.push(() => {
          clearTimeout(t)
          r()
        })
      })
    }
  }

  close() {
    this.ws.close()
  }
}

/** Opens `/v1/ws` for a user. */
export const openWs = (s: { wsUrl: string }, u: TestUser, query = '') =>
  TestSocket.open(`${s.wsUrl}/v1/ws?token=${u.token}${query}`)

/** Waits until `cond()` holds; fails after `ms` (generous: the box is loaded; a test's own timeout is 30 s). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(10)
  }
}

/** `from..to`, both included. */
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** A TCP port free on 127.0.0.1 a moment ago (for a process that must be told its port). */
export function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port
  probe.stop(true)
  if (port === undefined) throw new Error('no free port')
  return port
}

/** A node in its own process (for kill -9 and SIGTERM), listening on a free port. */
export type NodeProcess = { proc: ReturnType<typeof Bun.spawn>; url: string; wsUrl: string; api: Api; output: () => string }

export async function spawnNode(env: Record<string, string>): Promise<NodeProcess> {
  const proc = Bun.spawn(['bun', `${import.meta.dir}/../src/index.ts`], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', JWT_SECRET: 'test-secret', LOG_LEVEL: 'info', RATE_AUTH: '1000000', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let out = ''
  const decoder = new TextDecoder()
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start: ${out}`)), 45_000)
    void (async () => {
      for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
        out += decoder.decode(chunk)
        // one JSON object per line; the `listening` line carries the URL (key order is the logger's)
        for (const line of out.split('\n').slice(0, -1)) {
          if (!line.includes('"listening"')) continue
          const entry = JSON.parse(line) as { msg?: string; url?: string }
          if (entry.msg === 'listening' && entry.url) {
            clearTimeout(timer)
            resolve(entry.url.replace(/\/$/, ''))
          }
        }
      }
    })()
    void (async () => {
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) out += decoder.decode(chunk)
    })()
  })
  return { proc, url, wsUrl: url.replace(/^http/, 'ws'), api: api(url), output: () => out }
}
