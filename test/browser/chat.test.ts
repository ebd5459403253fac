/**
 * The web app in Debian's Chromium (playwright-core): two users in two
 * browser contexts, one in Korean and one in English, through the scenarios
 * of docs/web.md. Steps run in order and build on each other.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { api } from '../helpers'
import { hasChromium, launch, newUser, startNode, step, until } from './harness'

setDefaultTimeout(90_000)

const SCREENSHOT = join(import.meta.dir, '../../docs/screenshot.png')
// a 1×1 red PNG
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64')

describe.skipIf(!hasChromium)('web app in Chromium', () => {
  let node: Awaited<ReturnType<typeof startNode>>
  let browser: Browser
  let a: Page // 하늘, Korean UI
  let b: Page // Bora, English UI
  const pages = () => [a, b].filter(Boolean)
  const stamp = Date.now().toString(36)
  const emailA = `sky-${stamp}@example.com`
  const emailB = `bora-${stamp}@example.com`
  let firstMessageMs = 0

  beforeAll(async () => {
    node = await startNode()
    browser = await launch()
    a = (await newUser(browser, node.url, 'ko-KR')).page
    b = (await newUser(browser, node.url, 'en-US')).page
  })
  afterAll(async () => {
    await browser?.close()
    await node?.close()
  })

  const signUp = async (p: Page, email: string, nickname: string) => {
    await p.goto('/')
    const form = p.locator('#auth')
    await form.locator('input[name=email]').fill(email)
    await form.locator('input[name=password]').fill('password123')
    await form.locator('input[name=nickname]').fill(nickname)
    await form.locator('button').click()
    await p.locator('#rooms').waitFor()
  }
  const open = (p: Page, title: string) => p.locator('#rooms button', { hasText: title }).click()
  const say = async (p: Page, text: string) => {
    await p.locator('#composer').fill(text)
    await p.locator('#composer').press('Enter')
  }
  const msg = (p: Page, text: string) => p.locator('#log li.msg:not(.pending)', { hasText: text })

  test('sign up, DM by user search, chat both ways in Korean', async () => {
    await step('sign up', pages(), async () => {
      const started = performance.now()
      await signUp(a, emailA, '하늘')
      await signUp(b, emailB, 'Bora')
      expect(await a.locator('html').getAttribute('lang')).toBe('ko')
      expect(await b.locator('html').getAttribute('lang')).toBe('en')
      await a.locator('#new-chat').click()
      await a.getByRole('searchbox').first().fill('Bor')
      await a.locator('.results button', { hasText: 'Bora' }).click()
      await a.locator('#room-title', { hasText: 'Bora' }).waitFor()
      await say(a, '안녕하세요, 보라님!')
      await b.locator('#rooms button', { hasText: '하늘' }).waitFor()
      firstMessageMs = performance.now() - started
      await open(b, '하늘')
      await msg(b, '안녕하세요, 보라님!').waitFor()
      await say(b, '반가워요 하늘님 👋')
      await msg(a, '반가워요 하늘님 👋').waitFor()
      console.log(`two sign-ups, a DM found by search and the first message seen on the other side: ${firstMessageMs.toFixed(0)} ms`)
    })
  })
})
