import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, DEV_SECRET_FILE, loadConfig, persistedDevSecret } from '../src/config'
import { freePort } from './helpers'

// bunfig's [test] timeout is not applied by this Bun: starting the real entry point may need more than 5 s
setDefaultTimeout(60_000)

const ROOT = join(import.meta.dir, '..')

/** The ConfigError `loadConfig(env)` throws; fails when it does not throw one. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`)
}

describe('loadConfig', () => {
  test('defaults match API.md "Running"', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({
      PORT: 3000,
      HOST: '0.0.0.0',
      DATA_DIR: './data',
      FLUSH_MS: 2,
      BATCH_MAX: 1000,
      WRITE_QUEUE_MAX: 50000,
      MAX_ROOM_MEMBERS: 100,
      MAX_SPACE_MEMBERS: 1000,
      MAX_MESSAGE_CHARS: 1000,
      MAX_FRAME_BYTES: 16384,
      MAX_UPLOAD_BYTES: 10 * 1024 * 1024,
      RATE_MESSAGES: 20,
      ACCESS_TTL: 900,
      REFRESH_TTL: 2592000,
      FILE_URL_TTL: 3600,
      AUTH_MODE: 'jwt',
      LOG_LEVEL: 'info',
    })
    // unset: embedded PGlite in DATA_DIR, one node with the in-process bus
    expect(c.DATABASE_URL).toBeUndefined()
    expect(c.REDIS_URL).toBeUndefined()
    // JWT_SECRET unset outside production: generated for this run, and flagged for the warning
    expect(c.jwtSecretGenerated).toBe(true)
    expect(typeof c.JWT_SECRET).toBe('string')
    expect(c.JWT_SECRET.length).toBeGreaterThanOrEqual(32)
    expect(loadConfig({}).JWT_SECRET).not.toBe(c.JWT_SECRET)
    // NODE_ID: host name + pid
    expect(c.NODE_ID).toEndWith(`-${process.pid}`)
  })

  test('numbers are parsed; values are trimmed; an empty value means the default', () => {
    const c = loadConfig({
      PORT: ' 8080 ', HOST: '127.0.0.1', FLUSH_MS: '0', RATE_MESSAGES: '0', MAX_MESSAGE_CHARS: '2000',
      LOG_LEVEL: 'debug', JWT_SECRET: 'secret', NODE_ID: 'node-a', ACCESS_TTL: '',
    })
    expect(c).toMatchObject({
      PORT: 8080, HOST: '127.0.0.1', FLUSH_MS: 0, RATE_MESSAGES: 0, MAX_MESSAGE_CHARS: 2000,
      LOG_LEVEL: 'debug', JWT_SECRET: 'secret', NODE_ID: 'node-a', ACCESS_TTL: 900, jwtSecretGenerated: false,
    })
    expect(loadConfig({ PORT: '0' }).PORT).toBe(0)
    expect(loadConfig({ PORT: '65535' }).PORT).toBe(65535)
  })

  test('accepted URLs and modes', () => {
    for (const url of ['postgres://u:p@db:5432/chat', 'postgresql://db/chat', 'memory://']) {
      expect(loadConfig({ DATABASE_URL: url }).DATABASE_URL).toBe(url)
    }
    for (const url of ['redis://127.0.0.1:6379', 'rediss://cache:6380/0']) {
      expect(loadConfig({ REDIS_URL: url }).REDIS_URL).toBe(url)
    }
    for (const level of ['debug', 'info', 'warn', 'error'] as const) expect(loadConfig({ LOG_LEVEL: level }).LOG_LEVEL).toBe(level)
    expect(loadConfig({ AUTH_MODE: 'gateway', GATEWAY_SECRET: 'gw' })).toMatchObject({ AUTH_MODE: 'gateway', GATEWAY_SECRET: 'gw' })
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'prod-secret' })).toMatchObject({
      JWT_SECRET: 'prod-secret', jwtSecretGenerated: false,
    })
  })

  const bad: [string, string][] = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '3000.5'],
    ['PORT', '3e3'],
    ['FLUSH_MS', '-1'],
    ['FLUSH_MS', 'soon'],
    ['BATCH_MAX', '0'],
    ['WRITE_QUEUE_MAX', '0'],
    ['MAX_ROOM_MEMBERS', 'many'],
    ['MAX_MESSAGE_CHARS', '0'],
    ['MAX_FRAME_BYTES', '12kb'],
    ['MAX_UPLOAD_BYTES', '-5'],
    ['RATE_MESSAGES', '-1'],
    ['ACCESS_TTL', '0'],
    ['REFRESH_TTL', 'forever'],
    ['FILE_URL_TTL', '1.5'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_LEVEL', 'INFO'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'not a url'],
    ['REDIS_URL', 'http://x'],
    ['REDIS_CLUSTER_NODES', 'redis://a:7000'],
    ['REDIS_CLUSTER_NODES', '10.0.0.1:7000,10.0.0.2'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318'],
    ['AUTH_MODE', 'magic'],
    ['CORS_ORIGINS', 'app.example.com'],
    ['CORS_ORIGINS', 'https://a.example/path'],
  ]
  for (const [name, value] of bad) {
    test(`${name}=${value} → ConfigError naming ${name}, on one line`, () => {
      const e = configError({ [name]: value })
      expect(e.message).toContain(name)
      expect(e.message).not.toContain('\n')
    })
  }

  test('NODE_ENV=production without JWT_SECRET → ConfigError naming JWT_SECRET', () => {
    const e = configError({ NODE_ENV: 'production' })
    expect(e.message).toContain('JWT_SECRET')
    expect(e.message).not.toContain('\n')
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: '   ' }).message).toContain('JWT_SECRET')
  })

  test('AUTH_MODE=gateway without GATEWAY_SECRET → ConfigError naming GATEWAY_SECRET', () => {
    expect(configError({ AUTH_MODE: 'gateway' }).message).toContain('GATEWAY_SECRET')
  })
})

describe('the entry point (bun src/index.ts)', () => {
  test('a bad PORT: exits non-zero with exactly one stderr line naming PORT', async () => {
    const proc = Bun.spawn(['bun', 'src/index.ts'], {
      cwd: ROOT, env: { ...process.env, PORT: 'abc' }, stdout: 'pipe', stderr: 'pipe',
    })
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()])
    expect(code).not.toBe(0)
    const lines = stderr.split('\n').filter((l) => l.trim() !== '')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain('PORT')
    expect(stderr).not.toMatch(/\bat .*\.ts:\d+/) // no stack trace
  })

  test('starts on memory://, answers /readyz 200, drains on SIGTERM and exits 0', async () => {
    const port = freePort()
    const dataDir = mkdtempSync(join(tmpdir(), 'chat-entry-'))
    const proc = Bun.spawn(['bun', 'src/index.ts'], {
      cwd: ROOT,
      env: {
        ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: 'memory://', DATA_DIR: dataDir,
        JWT_SECRET: 'entry-test-secret', LOG_LEVEL: 'error', REDIS_URL: '', NODE_ENV: 'test',
      },
      stdout: 'pipe', stderr: 'pipe',
    })
    const stderr = new Response(proc.stderr).text()
    try {
      const base = `http://127.0.0.1:${port}`
      let exited = false
      void proc.exited.then(() => (exited = true))
      const deadline = Date.now() + 45_000
      for (;;) {
        if (exited) throw new Error(`the server exited early (${proc.exitCode}): ${await stderr}`)
        const r = await fetch(`${base}/readyz`).catch(() => null)
        if (r?.status === 200) {
          expect(await r.json()).toBeDefined()
          break
        }
        if (Date.now() > deadline) throw new Error('/readyz never answered 200')
        await Bun.sleep(100)
      }
      const health = await fetch(`${base}/healthz`)
      expect(health.status).toBe(200)
      expect(await health.json()).toEqual({ status: 'ok' })

      // a live socket is closed with 1001 by the drain
      const reg = await fetch(`${base}/v1/auth/register`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'entry@example.com', password: 'password123', nickname: 'entry' }),
      })
      expect(reg.status).toBe(201)
      const { access } = (await reg.json()) as { access: string }
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws?token=${access}`)
      const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)))
      await new Promise<void>((resolve, reject) => {
        ws.onmessage = () => resolve()
        ws.onerror = () => reject(new Error('socket error'))
      })

      proc.kill('SIGTERM')
      expect(await proc.exited).toBe(0)
      expect(await closed).toBe(1001)
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL')
      await proc.exited
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

describe('bun run dev: the generated secret persists in DATA_DIR', () => {
  test('persistedDevSecret keeps one secret per DATA_DIR, readable by the owner only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-secret-'))
    try {
      const a = persistedDevSecret(join(dir, 'nested'))
      expect(a).toMatch(/^[0-9a-f]{64}$/)
      expect(persistedDevSecret(join(dir, 'nested'))).toBe(a)
      expect(statSync(join(dir, 'nested', DEV_SECRET_FILE)).mode & 0o777).toBe(0o600)
      expect(persistedDevSecret(dir)).not.toBe(a)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('db:migrate, then a node with MIGRATE=0 and no JWT_SECRET; a token survives its restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chat-dev-'))
    const env = { ...process.env, HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'error', REDIS_URL: '', NODE_ENV: 'development', JWT_SECRET: '', DATABASE_URL: '' }
    try {
      const migrate = Bun.spawn(['bun', 'run', 'db:migrate'], { cwd: ROOT, env, stdout: 'ignore', stderr: 'pipe' })
      expect(await migrate.exited).toBe(0)
      const first = await startEntry({ ...env, MIGRATE: '0' })
      const reg = await fetch(`${first.base}/v1/auth/register`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'dev@example.com', password: 'password123', nickname: 'dev' }),
      })
      expect(reg.status).toBe(201)
      const { access } = (await reg.json()) as { access: string }
      await first.stop()
      const second = await startEntry({ ...env, MIGRATE: '0' })
      try {
        const me = await fetch(`${second.base}/v1/users/me`, { headers: { authorization: `Bearer ${access}` } })
        expect(me.status).toBe(200)
        expect(((await me.json()) as { email: string }).email).toBe('dev@example.com')
      } finally {
        await second.stop()
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

/** Starts `bun src/index.ts` on a free port and waits for /readyz; `stop` sends SIGTERM and expects exit 0. */
async function startEntry(env: Record<string, string | undefined>): Promise<{ base: string; stop: () => Promise<void> }> {
  const port = freePort()
  const proc = Bun.spawn(['bun', 'src/index.ts'], { cwd: ROOT, env: { ...env, PORT: String(port) }, stdout: 'ignore', stderr: 'pipe' })
  const stderr = new Response(proc.stderr).text()
  const base = `http://127.0.0.1:${port}`
  let exited = false
  void proc.exited.then(() => (exited = true))
  const deadline = Date.now() + 45_000
  for (;;) {
    if (exited) throw new Error(`the server exited early (${proc.exitCode}): ${await stderr}`)
    if ((await fetch(`${base}/readyz`).catch(() => null))?.status === 200) break
    if (Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error('/readyz never answered 200')
    }
    await Bun.sleep(100)
  }
  return {
    base,
    stop: async () => {
      proc.kill('SIGTERM')
      expect(await proc.exited).toBe(0)
    },
  }
}
