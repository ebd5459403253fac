import { Elysia, t } from 'elysia'
import { join } from 'node:path'
import { doc } from './route-docs'

/** The web app's sources (web/: TypeScript + Preact, docs/web.md). */
const WEB_DIR = join(import.meta.dir, '../../web')

/**
 * A strict Content-Security-Policy for the web app: scripts and styles only
 * from this server's own files (no inline code at all), sockets and fetches
 * only to this origin. Images may come from anywhere over http(s) (avatars
 * are URLs users give) and blob:/data: (previews of files being uploaded).
 */
export function pageSecurityHeaders(): Record<string, string> {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
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

export type WebAsset = { body: Uint8Array<ArrayBuffer>; type: string }
export type WebBundle = { html: string; assets: Map<string, WebAsset> }

const IMMUTABLE = 'public, max-age=31536000, immutable'

/**
 * Bundles web/ with Bun.build, in memory: `/assets/<name>-<hash>.<ext>` files
 * (JS, CSS, the favicon) and index.html pointing at them. Done once per
 * process (every node or test server in it shares the result).
 */
async function buildWeb(): Promise<WebBundle> {
  const out = await Bun.build({
    entrypoints: [join(WEB_DIR, 'src/main.tsx')],
    target: 'browser',
    format: 'esm',
    minify: true,
    sourcemap: 'none',
    naming: { entry: '[name]-[hash].[ext]', chunk: '[name]-[hash].[ext]', asset: '[name]-[hash].[ext]' },
    define: { 'process.env.NODE_ENV': '"production"' },
    // set here rather than read from web/tsconfig.json (which extends the repository's, absent from the image)
    jsx: { runtime: 'automatic', importSource: 'preact' },
    throw: false,
  })
  if (!out.success) throw new AggregateError(out.logs, 'web/: the bundle did not build')
  const assets = new Map<string, WebAsset>()
  let js = ''
  let css = ''
  for (const a of out.outputs) {
    const name = a.path.replace(/^\.\//, '')
    assets.set(name, { body: new Uint8Array(await a.arrayBuffer()), type: a.type })
    if (a.kind === 'entry-point') js = name
    else if (name.endsWith('.css')) css = name
  }
  const icon = new Uint8Array(await Bun.file(join(WEB_DIR, 'favicon.svg')).arrayBuffer())
  const iconName = `favicon-${new Bun.CryptoHasher('sha256').update(icon).digest('hex').slice(0, 12)}.svg`
  assets.set(iconName, { body: icon, type: 'image/svg+xml' })
  const html = (await Bun.file(join(WEB_DIR, 'index.html')).text())
    .replace('%JS%', `/assets/${js}`)
    .replace('%CSS%', `/assets/${css}`)
    .replace('%FAVICON%', `/assets/${iconName}`)
  return { html, assets }
}

let bundle: Promise<WebBundle> | null = null
/** The web app, built on first use and kept. */
export const webBundle = (): Promise<WebBundle> => (bundle ??= buildWeb())

/** The web chat app: `/` (never cached), `/assets/*` (content-hashed, cached for good), `/favicon.ico`. */
export const webRoutes = async () => {
  const { html, assets } = await webBundle()
  const security = pageSecurityHeaders()
  const pageHeaders = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', ...security }
  const notFound = () =>
    new Response(JSON.stringify({ detail: 'No such asset.', code: 'not_found' }), {
      status: 404, headers: { 'content-type': 'application/json' },
    })
  const icon = [...assets.keys()].find((k) => k.startsWith('favicon-'))!
  return new Elysia()
    .get('/', () => new Response(html, { headers: pageHeaders }), {
      detail: doc({
        tag: 'Operations', summary: 'The web chat app', public: true,
        ok: { 200: { description: 'The app\'s HTML page; its scripts and styles are under /assets/.', schema: t.String(), media: 'html' } }, errors: [],
      }),
    })
    .get('/assets/:name', ({ params }) => {
      const a = assets.get(params.name)
      if (!a) return notFound()
      return new Response(a.body, { headers: { 'content-type': a.type, 'cache-control': IMMUTABLE, ...security } })
    }, {
      params: t.Object({ name: t.String({ maxLength: 200 }) }),
      // static files of the page, not API operations: left out of the OpenAPI document (docs/web.md lists them)
      detail: { hide: true },
    })
    .get('/favicon.ico', () => new Response(null, { status: 301, headers: { location: `/assets/${icon}` } }), { detail: { hide: true } })
}
