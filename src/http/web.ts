import { Elysia } from 'elysia'
import { join } from 'node:path'

/** The web chat page at `/`: one self-contained file, read once. */
export const webRoutes = async () => {
  const page = await Bun.file(join(import.meta.dir, '../web/index.html')).text()
  return new Elysia().get('/', () => new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8' } }))
}
