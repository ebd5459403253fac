import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { PGlite } from '@electric-sql/pglite'
import { classifyFailure, Failure, isRetryable, retryDelayMs } from './failure'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

const pgError = (code: string, message = 'x', extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { code, ...extra })
/** drizzle wraps the driver's error */
const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: …'), { cause })

describe('failure classification', () => {
  test.each([
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
    ['ECONNRESET', 'read ECONNRESET'],
    ['CONNECTION_CLOSED', 'write CONNECTION_CLOSED 127.0.0.1:5432'],
    ['CONNECTION_ENDED', 'write CONNECTION_ENDED 127.0.0.1:5432'],
    ['CONNECT_TIMEOUT', 'write CONNECT_TIMEOUT 127.0.0.1:5432'],
    ['57P01', 'terminating connection due to administrator command'],
    ['57P02', 'terminating connection due to crash of another server process'],
    ['57P03', 'the database system is shutting down'],
    ['08006', 'connection failure'],
    ['08001', 'could not connect'],
    ['53300', 'too many connections'],
    ['53100', 'could not extend file: No space left on device'],
  ])('%s is a connection failure, retried', (code, message) => {
    expect(classifyFailure(pgError(code, message))).toBe(Failure.connection)
    expect(classifyFailure(wrapped(pgError(code, message)))).toBe(Failure.connection)
    expect(isRetryable(classifyFailure(pgError(code, message)))).toBe(true)
  })

  test('messages without a code: PGlite closed, a dropped connection', () => {
    expect(classifyFailure(new Error('PGlite is closed'))).toBe(Failure.connection)
    expect(classifyFailure(new Error('connection terminated unexpectedly'))).toBe(Failure.connection)
  })

  test.each([
    ['22021', 'invalid byte sequence for encoding "UTF8": 0x00'],
    ['22P05', 'unsupported Unicode escape sequence'],
    ['22003', 'value "99999999999999999999" is out of range for type bigint'],
    ['23502', 'null value in column "content" violates not-null constraint'],
    ['23503', 'insert or update on table violates foreign key constraint'],
    ['42804', 'column "attachment" is of type jsonb but expression is of type text'],
  ])('%s is a data failure: not retried, the batch is split', (code, message) => {
    expect(classifyFailure(wrapped(pgError(code, message)))).toBe(Failure.data)
    expect(isRetryable(Failure.data)).toBe(false)
  })

  test('a duplicate client_msg_id is its own case; another unique violation is data', () => {
    expect(classifyFailure(wrapped(pgError('23505', 'duplicate key', { constraint_name: 'messages_client_msg_key' })))).toBe(Failure.duplicateClientMsgId)
    expect(classifyFailure(pgError('23505', 'duplicate key value violates unique constraint "messages_client_msg_key"'))).toBe(Failure.duplicateClientMsgId)
    expect(classifyFailure(pgError('23505', 'duplicate key', { constraint_name: 'messages_room_seq_key' }))).toBe(Failure.data)
  })

  test('deadlocks and serialization failures are transient (retried); anything else unknown', () => {
    expect(classifyFailure(pgError('40P01'))).toBe(Failure.transient)
    expect(classifyFailure(pgError('40001'))).toBe(Failure.transient)
    expect(classifyFailure(new Error('something else'))).toBe(Failure.unknown)
    expect(classifyFailure(undefined)).toBe(Failure.unknown)
    expect(classifyFailure('a string')).toBe(Failure.unknown)
    expect(isRetryable(Failure.unknown)).toBe(false)
  })

  test('the real errors of a NUL through JSON into text and jsonb, and of a closed PGlite', async () => {
    const db = new PGlite()
    const err = (q: string) => db.query(q).then(() => null, (e: unknown) => e)
    expect(classifyFailure(await err(`select * from json_to_recordset('[{"c":"a\\u0000b"}]'::json) as x(c text)`))).toBe(Failure.data)
    expect(classifyFailure(await err(`select '{"c":"a\\u0000b"}'::jsonb`))).toBe(Failure.data)
    await db.close()
    expect(classifyFailure(await err('select 1'))).toBe(Failure.connection)
  })

  test('the retry delays grow and stay small: a second of budget holds several tries', () => {
    expect([1, 2, 3, 4, 5, 6].map(retryDelayMs)).toEqual([25, 50, 100, 200, 200, 200])
  })
})
