import { Elysia } from 'elysia'
import { AppError } from '../lib/errors'
import { jsonTooDeep, MAX_JSON_DEPTH } from '../lib/text'

/** Largest JSON body a REST route accepts, bytes. */
export const MAX_JSON_BYTES = 1024 * 1024
/** Room multipart adds around an upload's file (boundaries, part headers, caption). */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024

/**
 * Route metadata for the body parser, given as a route's `detail`: the
 * route takes `multipart/form-data` up to `maxBytes`. Routes without it
 * take JSON up to MAX_JSON_BYTES.
 */
export const multipartBody = (maxBytes: number) => ({ 'x-multipart-max-bytes': maxBytes })

const tooLarge = (max: number) => new AppError('too_large', `The request body is larger than ${max} bytes.`)

/**
 * Reads a body, counting bytes as they arrive (chunked bodies have no
 * Content-Length), and stops at `max`: 413 `too_large`.
 */
export async function readBody(req: Request, max: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = req.headers.get('content-length')
  if (declared !== null && Number(declared) > max) throw tooLarge(max)
  if (!req.body) return new Uint8Array(0)
  const reader = req.body.getReader()
  const chunks: Uint8Array<ArrayBuffer>[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > max) {
      await reader.cancel().catch(() => {})
      throw tooLarge(max)
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

/**
 * The one body parser of the app. JSON everywhere (whatever the declared
 * type, but multipart), at most MAX_JSON_BYTES; multipart only where the
 * route's metadata allows it, up to its size. Not JSON, or nested deeper than
 * MAX_JSON_DEPTH → 400 `bad_request`.
 */
export function bodyParser() {
  /** "METHOD path-pattern" → multipart allowance, read from the routes' metadata once they exist */
  let multipart: Map<string, number> | null = null
  const allowance = (app: { routes: { method: string; path: string; hooks: { detail?: unknown } }[] }) => {
    multipart = new Map()
    for (const r of app.routes) {
      const max = (r.hooks.detail as Record<string, unknown> | undefined)?.['x-multipart-max-bytes']
      if (typeof max === 'number') multipart.set(`${r.method} ${r.path}`, max)
    }
    return multipart
  }
  const plugin = new Elysia({ name: 'body-parser' }).onParse({ as: 'global' }, async ({ request, contentType, route }) => {
    if (contentType.startsWith('multipart/form-data')) {
      const max = multipart?.get(`${request.method} ${route}`)
      if (max === undefined) throw new AppError('bad_request', 'This route takes a JSON body (application/json).')
      const bytes = await readBody(request, max)
      let form: Awaited<ReturnType<Response['formData']>>
      try {
        form = await new Response(bytes, { headers: { 'content-type': request.headers.get('content-type') ?? contentType } }).formData()
      } catch {
        throw new AppError('bad_request', 'The multipart body is malformed.')
      }
      // a field given twice becomes a list, which no schema takes: refused, never picked silently
      const fields: Record<string, unknown> = {}
      for (const [name, value] of form.entries()) {
        const had = fields[name]
        fields[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value]
      }
      return fields
    }
    const bytes = await readBody(request, MAX_JSON_BYTES)
    if (bytes.byteLength === 0) return undefined
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
    } catch {
      throw new AppError('bad_request', 'The request body is not valid JSON.')
    }
    if (jsonTooDeep(text)) throw new AppError('bad_request', `The request body nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels.`)
    try {
      return JSON.parse(text) as unknown
    } catch {
      throw new AppError('bad_request', 'The request body is not valid JSON.')
    }
  })
  return { plugin, /** call once every route is registered */ index: allowance }
}
