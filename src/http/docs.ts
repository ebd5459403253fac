import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'
import { dirname, join } from 'node:path'
import { notFound } from '../lib/errors'

/** The UI's files, from the installed swagger-ui-dist package: /docs works offline, with no CDN. */
const assetDir = dirname(Bun.resolveSync('swagger-ui-dist/package.json', import.meta.dir))
const assets: Record<string, string> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
}

/**
 * `GET /docs`: the OpenAPI UI; `GET /docs/json`: the document. The WebSocket
 * protocol is described in docs/protocol.md of the repository.
 */
export const docsRoutes = () =>
  new Elysia()
    .use(openapi({
      path: '/docs',
      provider: 'swagger-ui',
      swagger: { cdn: '/docs/assets/swagger-ui-bundle.js', theme: '/docs/assets/swagger-ui.css', autoDarkMode: false },
      exclude: { paths: [/^\/docs\/assets\//] },
      documentation: {
        info: {
          title: 'Chat server API',
          version: '1',
          description: 'REST routes of the chat server. Live events and sends go over one WebSocket at /v1/ws (see docs/protocol.md in the repository).',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
        security: [{ bearer: [] }],
      },
    }))
    .get('/docs/assets/:name', ({ params }) => {
      const type = Object.hasOwn(assets, params.name) ? assets[params.name] : undefined
      if (!type) throw notFound('File')
      return new Response(Bun.file(join(assetDir, params.name)), {
        headers: { 'content-type': type, 'cache-control': 'public, max-age=86400', 'x-content-type-options': 'nosniff' },
      })
    }, { detail: { hide: true } })
