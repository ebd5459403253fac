/**
 * The web app in gateway mode, behind `bun run gateway:dev` (scripts/gateway-dev.ts):
 * no sign-in of its own; the gateway's identity form, then the app as that user.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { startGatewayDev, type GatewayDev } from '../../scripts/gateway-dev'
import { hasChromium, launch, newUser, startNode, step } from './harness'

setDefaultTimeout(90_000)

const SECRET = 'browser-gateway-secret'

describe.skipIf(!hasChromium)('web app behind the dev gateway', () => {
  let node: Awaited<ReturnType<typeof startNode>>
  let gw: GatewayDev
  let browser: Browser
  let a: Page
  let b: Page

  beforeAll(async () => {
    node = await startNode({ AUTH_MODE: 'gateway', GATEWAY_SECRET: SECRET })
    gw = startGatewayDev({ secret: SECRET, upstream: node.url, port: 0 })
    browser = await launch()
    a = (await newUser(browser, gw.url, 'ko-KR')).page
    b = (await newUser(browser, gw.url, 'en-US')).page
  })
  afterAll(async () => {
    await browser?.close()
    gw?.stop()
    await node?.close()
  })

  const signInAtGateway = async (p: Page, id: number, nickname: string) => {
    await p.goto('/')
    // not signed in at the gateway: the app sends there, it has no sign-in of its own
    await p.locator('a[href="/gateway"]').click()
    await p.locator('input[name=id]').fill(String(id))
    await p.locator('input[name=nickname]').fill(nickname)
    await p.locator('input[name=email]').fill(`u${id}@example.com`)
    await p.locator('form button').click()
    await p.locator('#rooms').waitFor()
  }

  test('sign in through the identity form, find each other, chat live', async () => {
    await step('gateway', [a, b], async () => {
      await signInAtGateway(a, 7001, '하늘')
      expect(await a.locator('#auth').count()).toBe(0)
      await signInAtGateway(b, 7002, 'Bora')
      await a.locator('#new-chat').click()
      await a.locator('dialog input[type=search]').fill('Bor')
      await a.locator('dialog .results button', { hasText: 'Bora' }).click()
      await a.locator('#room-title', { hasText: 'Bora' }).waitFor()
      await a.locator('#composer').fill('게이트웨이 너머로 안녕')
      await a.locator('#composer').press('Enter')
      await b.locator('#rooms button', { hasText: '하늘' }).click()
      await b.locator('#log li.msg', { hasText: '게이트웨이 너머로 안녕' }).waitFor()
      await b.locator('#composer').fill('hello back')
      await b.locator('#composer').press('Enter')
      await a.locator('#log li.msg:not(.pending)', { hasText: 'hello back' }).waitFor()
      // no log-out button here: the gateway owns the session
      expect(await a.locator('#logout').count()).toBe(0)
    })
  })
})
