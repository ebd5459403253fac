import type { Logger } from '../lib/logger'

/** Ids a client or proxy may pass in `X-Request-Id` (anything else is replaced). */
const VALID = /^[A-Za-z0-9._:-]{1,128}$/
const ids = new WeakMap<Request, string>()

/**
 * The request's id: the caller's `X-Request-Id` when well-formed, else a new
 * UUID. Made on first ask and kept, so a request nothing asks about (a
 * WebSocket upgrade that succeeds) costs none.
 */
export function requestId(req: Request): string {
  let id = ids.get(req)
  if (id === undefined) {
    const given = req.headers.get('x-request-id')
    id = given && VALID.test(given) ? given : crypto.randomUUID()
    ids.set(req, id)
  }
  return id
}

/** `log` with the request's id on every line. */
export function requestLog(log: Logger, req: Request | undefined): Logger {
  return req ? log.child({ req_id: requestId(req) }) : log
}
