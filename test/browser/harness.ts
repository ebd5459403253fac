/**
 * The browser suites' harness: a chat server on 127.0.0.1 that can be stopped
 * and started again on the same port and database (PGlite in a temporary
 * DATA_DIR, or a fresh Postgres database when TEST_DATABASE_URL is set), and
 * Debian's Chromium driven by playwright-core. Screenshots of every page go to
 * tmp/artifacts/ when a step fails.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { createChatServer, type ChatServer } from '../../src/app'
import { loadConfig } from '../../src/config'
import { silentLogger } from '../../src/lib/logger'
import { freshPostgres, PG_URL, REDIS_URL } from '../helpers'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) console.warn(`browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`)

export const ARTIFACTS = join(import.meta.dir, '../../tmp/artifacts')

export type Node = { url: string; chat: ChatServer }

/** A server that keeps its port and database across `restart()`. */
export async function startNode(extra: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-web-'))
  const pg = PG_URL ? await freshPostgres() : null
  let port = '0'
  let chat: ChatServer | null = null
  const up = async () => {
    const config = loadConfig({
      PORT: port, HOST: '127.0.0.1', DATA_DIR: dataDir, JWT_SECRET: 'browser-test-secret', LOG_LEVEL: 'error',
      NODE_ID: `web-${Math.random().toString(36).slice(2, 6)}`, RATE_AUTH: '1000000',
      ...(pg ? { DATABASE_URL: pg.url } : {}), ...(REDIS_URL ? { REDIS_URL } : {}), ...extra,
    })
    chat = await createChatServer(config, silentLogger)
    const server = chat.listen()
    port = String(server.port)
    return server.url.href.replace(/\/$/, '')
  }
  const url = await up()
  return {
    url,
    get chat() {
      return chat!
    },
    /** Stops the node as a deploy would (drain: every accepted message committed). */
    async stop() {
      await chat!.close()
    },
    /** Starts it again on the same port and database. */
    async start() {
      await up()
    },
    async close() {
      await chat?.close()
      await pg?.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright gives each launch a fresh temporary --user-data-dir
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  })
}

export async function newUser(browser: Browser, url: string, locale: 'ko-KR' | 'en-US', viewport = { width: 1200, height: 800 }) {
  const context: BrowserContext = await browser.newContext({ locale, viewport, baseURL: url })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
  return { context, page, errors }
}

/** Runs a step; when it fails, screenshots every page into tmp/artifacts/ and fails with the step's name. */
export async function step(name: string, pages: Page[], fn: () => Promise<void>) {
  try {
    await fn()
  } catch (e) {
    mkdirSync(ARTIFACTS, { recursive: true })
    const slug = name.replace(/[^\w가-힣-]+/g, '-').slice(0, 60)
    await Promise.all(pages.map((p, i) => p.screenshot({ path: join(ARTIFACTS, `${slug}-${i}.png`), fullPage: true }).catch(() => {})))
    throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)} (screenshots in tmp/artifacts/${slug}-*.png)`, { cause: e })
  }
}

/** Polls `check` until it returns true (each browser wait is a condition, never a fixed sleep). */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`)
    await Bun.sleep(50)
  }
}
