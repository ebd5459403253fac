import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { startServer, type TestServer } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

let s: TestServer
beforeAll(async () => {
  s = await startServer()
})
afterAll(() => s.close())

const assetsOf = (html: string) => [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!)

test('GET / serves the app page, never cached, under a strict CSP with no inline code', async () => {
  const res = await fetch(`${s.url}/`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toStartWith('text/html')
  expect(res.headers.get('cache-control')).toBe('no-cache')
  const csp = res.headers.get('content-security-policy')!
  expect(csp).toContain("default-src 'none'")
  expect(csp).toContain("script-src 'self'")
  expect(csp).toContain("style-src 'self'")
  expect(csp).not.toContain('unsafe')
  expect(res.headers.get('x-frame-options')).toBe('DENY')
  const html = await res.text()
  // everything from this server: no inline script or style, no other origin
  expect(html).not.toMatch(/<script>|<style>|https?:\/\//)
  const assets = assetsOf(html)
  expect(assets.some((a) => /^\/assets\/main-\w+\.js$/.test(a))).toBe(true)
  expect(assets.some((a) => /^\/assets\/main-\w+\.css$/.test(a))).toBe(true)
  expect(assets.some((a) => /^\/assets\/favicon-\w+\.svg$/.test(a))).toBe(true)
})

test('assets have content-hashed names and are cached for good; the bundle uses the SDK', async () => {
  const html = await (await fetch(`${s.url}/`)).text()
  for (const path of assetsOf(html)) {
    const res = await fetch(s.url + path)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const type = res.headers.get('content-type')!
    if (path.endsWith('.js')) {
      expect(type).toContain('javascript')
      const js = await res.text()
      // the SDK's socket (resume with auto_subscribe=false) and its typed REST routes are in the bundle
      expect(js).toContain('auto_subscribe=false')
      expect(js).toContain('/v1/auth/refresh')
    } else if (path.endsWith('.css')) expect(type).toContain('text/css')
    else expect(type).toBe('image/svg+xml')
  }
})

test('/favicon.ico leads to the favicon; an unknown asset is a JSON 404', async () => {
  const ico = await fetch(`${s.url}/favicon.ico`, { redirect: 'manual' })
  expect(ico.status).toBe(301)
  expect(ico.headers.get('location')).toMatch(/^\/assets\/favicon-\w+\.svg$/)
  const res = await fetch(`${s.url}/assets/main-nope.js`)
  expect(res.status).toBe(404)
  expect(((await res.json()) as { code: string }).code).toBe('not_found')
})

test('unknown paths next to the page stay JSON 404s', async () => {
  const res = await fetch(`${s.url}/nope`)
  expect(res.status).toBe(404)
  expect(((await res.json()) as { code: string }).code).toBe('not_found')
})
