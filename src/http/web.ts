import { Elysia, t } from 'elysia'
import { join } from 'node:path'
import { doc } from './route-docs'

const sha256 = (text: string) => `'sha256-${new Bun.CryptoHasher('sha256').update(text).digest('base64')}'`

/**
 * A strict Content-Security-Policy for a page whose scripts and styles are
 * inline: each block is allowed by its hash, nothing else runs. Images may
 * come from anywhere over http(s) (avatars are URLs users give).
 */
export function pageSecurityHeaders(html: string): Record<string, string> {
  const blocks = (tag: string) => [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => sha256(m[1]!))
  const csp = [
    "default-src 'none'",
    `script-src ${blocks('script').join(' ') || "'none'"}`,
    `style-src ${blocks('style').join(' ') || "'none'"}`,
    "img-src 'self' data: blob: https: http:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
  return {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  }
}

/** The web chat page at `/`: one self-contained file, read once. */
export const webRoutes = async () => {
  const page = await Bun.file(join(import.meta.dir, '../web/index.html')).text()
  const headers = { 'content-type': 'text/html; charset=utf-8', ...pageSecurityHeaders(page) }
  return new Elysia().get('/', () => new Response(page, { headers }), {
    detail: doc({
      tag: 'Operations', summary: 'The web chat page', public: true,
      ok: { 200: { description: 'One self-contained HTML page.', schema: t.String(), media: 'html' } }, errors: [],
    }),
  })
}
