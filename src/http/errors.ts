import { Elysia, ValidationError } from 'elysia'
import { classifyFailure, Failure } from '../db/writer/failure'
import { AppError, type ErrorBody } from '../lib/errors'
import type { Logger } from '../lib/logger'
import { quoteValue } from '../lib/text'
import { requestLog } from './request-id'

const json = (status: number, body: ErrorBody, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

/** The answer for any error: `{detail, code}`, never a stack trace. */
export function errorResponse(error: unknown, code: string | number, log: Logger): Response {
  // Elysia wraps what a parse hook throws (the body parser's 413 and 400) in its ParseError
  if (code === 'PARSE' && (error as { cause?: unknown })?.cause instanceof AppError) error = (error as { cause: AppError }).cause
  if (error instanceof AppError) {
    const headers: Record<string, string> = error.retryAfter ? { 'retry-after': String(error.retryAfter) } : {}
    return json(error.status, error.toBody(), headers)
  }
  if (error instanceof ValidationError || code === 'VALIDATION') {
    return json(422, { detail: validationDetail(error), code: 'validation' })
  }
  if (code === 'PARSE' || code === 'INVALID_COOKIE_SIGNATURE') {
    return json(400, { detail: 'The request body is not valid JSON.', code: 'bad_request' })
  }
  if (code === 'NOT_FOUND') return json(404, { detail: 'No such route.', code: 'not_found' })
  const status = (error as { status?: number })?.status
  if (status === 413) return json(413, { detail: 'The request body is too large.', code: 'too_large' })
  // a read that met a database going away: the client may retry, as with the writer's `unavailable`
  if (classifyFailure(error) === Failure.connection) {
    log.warn('database unavailable', { error })
    return json(503, { detail: 'The database is unavailable. Retry later.', code: 'unavailable' })
  }
  log.error('unhandled error', { error })
  return json(500, { detail: 'Internal server error.', code: 'internal' })
}

function validationDetail(error: unknown): string {
  if (!(error instanceof ValidationError)) return 'The request failed validation.'
  const first = error.all[0]
  if (!first) return 'The request failed validation.'
  const path = 'path' in first && first.path ? first.path.replace(/^\//, '').replace(/\//g, '.') : ''
  const raw = 'message' in first ? first.message : 'is invalid'
  // TypeBox's word for a coerced number that is not one
  const msg = raw === 'Expected union value' ? `has the wrong type (got ${quoteValue('value' in first ? first.value : null)})` : raw
  // a coerced path or query value is checked alone (type 'property') and its name is not kept: say what was sent
  if (!path && error.type === 'property') {
    const got = 'value' in first ? ` (got ${quoteValue(first.value)})` : ''
    return `a path or query parameter: ${msg}${got}.`
  }
  const field = path || (error.type === 'body' ? 'body' : error.type)
  return `${field}: ${msg}.`
}

/** Maps every error of the app in one place. */
export const errorPlugin = (log: Logger) =>
  new Elysia({ name: 'errors' }).onError({ as: 'global' }, ({ error, code, request }) => errorResponse(error, code, requestLog(log, request)))
