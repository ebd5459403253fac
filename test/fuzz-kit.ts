/**
 * Shared pieces of the property-based fuzz suites (fuzz-rest, fuzz-ws):
 * hostile values, schema-aware payloads built from the app's own TypeBox
 * schemas, the error-shape check, and a steady sender that must not notice
 * the fuzz.
 *
 * Reproducing a failure: every run prints its seed; run again with
 * FUZZ_SEED=<seed> (and FUZZ_PATH=<path> to replay the shrunk case only).
 * FUZZ_SCALE multiplies case counts and time budgets (e.g. 0.1 while iterating).
 */
import fc from 'fast-check'
import type { Api, TestUser } from './helpers'

export const SCALE = Number(process.env.FUZZ_SCALE ?? '1')

/** fast-check parameters for one suite: a case count and a time budget, seeded and replayable. */
export function fuzzParams(name: string, numRuns: number, budgetMs: number): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
  const path = process.env.FUZZ_PATH
  console.log(`[fuzz] ${name}: seed=${seed}${path ? ` path=${path}` : ''} (replay: FUZZ_SEED=${seed})`)
  return {
    seed,
    ...(path ? { path } : {}),
    numRuns: Math.max(1, Math.round(numRuns * SCALE)),
    // a loaded CI box gets fewer cases, never a timeout; the count reached is printed and asserted by the suite
    interruptAfterTimeLimit: Math.round(budgetMs * Math.max(SCALE, 0.05)),
    markInterruptAsFailure: false,
    endOnFailure: true,
    verbose: 1,
  }
}

// ---------------------------------------------------------------- hostile values

const KOREAN = '안녕하세요 세계 한국어 텍스트 ㄱㄴㄷ 가나다라'
const EMOJI = '😀👍🏽👨‍👩‍👧‍👦🇰🇷❤️‍🔥'
const RTL = '\u202eمرحبا بالعالم\u202c שלום \u200f'

/** Strings that have broken parsers, databases and length checks somewhere. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  // lone surrogates and NUL, alone or inside ordinary text
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 10 }), fc.constantFrom('\u0000', '\ud800', '\udfff', '\ud83d', '\ude00', '\u0000\u0000', '\udc00\ud800'), fc.string({ maxLength: 10 }))
      .map(([a, b, c]) => a + b + c),
  },
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      '', ' ', '   \t\n ', '\u3000', '\u200b', '\ufeff', KOREAN, EMOJI, RTL, 'ㅋ'.repeat(1001), '😀'.repeat(1000), '😀'.repeat(1001),
      'NaN', 'Infinity', '-Infinity', '-0', '0', '-1', '1', '1.5', '1e308', '9007199254740993', '9007199254740991', ' 1', '0x10',
      '1_000', 'null', 'true', '[]', '{}', '"', '\\', '%', '%00', '_', "'; drop table users; --", '<script>alert(1)</script>',
      '../../etc/passwd', 'a@b.c', 'post:42', 'e\u0301', 'Z\u0351\u0352\u0353a\u0354\u0355lgo', '\r\n', '\u0007\u001b[31m',
    ),
  },
  // huge: past every text limit, some past the 1 MiB body limit once serialized
  {
    weight: 1,
    arbitrary: fc.constantFrom(5_000, 100_001, 1_100_000).chain((n) => fc.constantFrom('x', '가', '😀', '\u0000').map((c) => c.repeat(c.length === 2 ? n / 2 : n))),
  },
)

/** Numbers at the edges of every range a route checks. */
export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, -1, 1, 2, 1.5, -1.5, 1e308, -1e308, 2 ** 53 + 1, 2 ** 53, 2 ** 53 - 1, -(2 ** 53), 2 ** 31, 2 ** 31 - 1, 2 ** 63, 5e-324, 3650, 3651, 200, 201),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
)

/** Any JSON value, its leaves hostile. */
export const nastyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nastyString,
    nastyNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(nastyString, fc.constantFrom('__proto__', 'constructor', 'type', 'room_id')), tie('value'), { maxKeys: 5 }),
  ),
})).value

// ---------------------------------------------------------------- schema-aware payloads

/** The subset of JSON Schema (as TypeBox writes it) the app's route and frame schemas use. */
export type JsonSchema = {
  type?: string
  const?: unknown
  anyOf?: JsonSchema[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  format?: string
}

/** Real ids to put where ids go, half the time: rooms, messages, users, seqs. */
export type IdPool = { rooms: number[]; messages: number[]; users: number[] }

const pick = (xs: number[]) => (xs.length ? fc.constantFrom(...xs) : fc.integer({ min: 1, max: 50 }))

/** A value the field's schema accepts, or close to it (ids from the pool, strings near their limits). */
export function validish(s: JsonSchema, pool: IdPool, name = ''): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const)
  if (s.anyOf) return fc.oneof(...s.anyOf.filter((x) => x.format !== 'integer').map((x) => validish(x, pool, name)))
  switch (s.type) {
    case 'null':
      return fc.constant(null)
    case 'boolean':
      return fc.boolean()
    case 'integer':
    case 'number': {
      const lo = s.minimum ?? 0
      const hi = Math.min(s.maximum ?? 2 ** 53 - 1, 2 ** 53 - 1)
      const ids = /room/.test(name) ? pick(pool.rooms) : /user|member/.test(name) ? pick(pool.users) : /reply|mid|message/.test(name) ? pick(pool.messages) : null
      return fc.oneof(ids ?? fc.integer({ min: lo, max: Math.min(hi, lo + 100) }), fc.constantFrom(lo, hi), fc.integer({ min: lo, max: Math.min(hi, 2 ** 31 - 1) }))
    }
    case 'string': {
      const max = Math.min(s.maxLength ?? 50, 60)
      const min = Math.min(s.minLength ?? 0, max)
      if (s.format === 'binary') return fc.constant('file')
      // well-formed but unusual text: what the database must store as sent
      const long = (s.maxLength ?? 0) >= 4000 ? ['😀'.repeat(1000), '가'.repeat(1000), 'e\u0301'.repeat(500)] : []
      return fc.oneof(
        fc.string({ minLength: Math.max(min, 1), maxLength: Math.max(max, 1) }),
        fc.string({ unit: 'grapheme', minLength: Math.max(min, 1), maxLength: Math.max(max, 1) }),
        fc.constantFrom(KOREAN, EMOJI, RTL, 'hello world', 'password123', ' padded  ', "it's \\ 100% _", ...long).filter((x) => x.length >= min),
      )
    }
    case 'array': {
      const item = s.items ? validish(s.items, pool, name) : nastyJson
      return fc.array(item, { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 5, 5) })
    }
    case 'object':
      return objectFor(s, pool)
    default:
      return nastyJson
  }
}

/** A value for a field: mostly valid-ish, else hostile or of the wrong type. */
export function fieldValue(s: JsonSchema, pool: IdPool, name: string): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 3, arbitrary: validish(s, pool, name) }, { weight: 2, arbitrary: nastyString }, { weight: 1, arbitrary: nastyNumber }, { weight: 1, arbitrary: nastyJson })
}

/** An object for a schema: each known field present or missing, plus now and then an unknown one. */
export function objectFor(s: JsonSchema, pool: IdPool, mode: 'hostile' | 'valid' = 'hostile'): fc.Arbitrary<Record<string, unknown>> {
  const props = Object.entries(s.properties ?? {})
  const required = new Set(s.required ?? [])
  const value = mode === 'valid' ? validish : fieldValue
  const fields = props.map(([k, v]) =>
    // hostile: required fields are present 7 times out of 8, optional ones half the time;
    // valid: required ones always, optional ones a third of the time
    mode === 'valid' && required.has(k)
      ? value(v, pool, k).map((x) => [k, x] as const)
      : fc.oneof(
          { weight: required.has(k) ? 7 : 1, arbitrary: value(v, pool, k).map((x) => [k, x] as const) },
          { weight: mode === 'valid' ? 2 : 1, arbitrary: fc.constant(null) },
        ),
  )
  const extra = mode === 'valid'
    ? fc.constant(null)
    : fc.option(fc.tuple(fc.oneof(nastyString, fc.constantFrom('__proto__', 'constructor', 'id', 'user_id')), nastyJson), { freq: 6 })
  return fc.tuple(fc.tuple(...fields), extra).map(([kvs, x]) => {
    const o: Record<string, unknown> = {}
    for (const kv of kvs) if (kv) o[kv[0]] = kv[1]
    if (x) Object.defineProperty(o, x[0], { value: x[1], enumerable: true, configurable: true, writable: true })
    return o
  })
}

/** A body: a schema-aware object most of the time, else any JSON value (wrong type at the top). */
export function bodyFor(s: JsonSchema | undefined, pool: IdPool): fc.Arbitrary<unknown> {
  if (!s) return fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: nastyJson })
  // mostly hostile fields; a third of the time a payload that may well succeed (and reach the database)
  return fc.oneof({ weight: 4, arbitrary: objectFor(s, pool) }, { weight: 2, arbitrary: objectFor(s, pool, 'valid') }, { weight: 1, arbitrary: nastyJson })
}

/** Raw body texts that are not the JSON of any value, or are JSON nobody should have to parse. */
export const badJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('{', '}', '{"a":}', '{"content":"x",}', "{'a':1}", 'NaN', '{"seq": NaN}', '{"seq": Infinity}', '{"seq": -Infinity}', 'undefined', '\u0000', '{"a":1}{"b":2}', '[1,2', '"\\ud800"', '{"content":"\\u0000"}', '{"content":"\\ud800"}', '{"seq": 1e400}', '{"seq": -0}', '{"seq": 9007199254740993}', '{"seq": 0.0000001e7}', '{"content":"a","content":5}'),
  // nested deeper than any payload (a stack overflow somewhere used to be a 500)
  fc.tuple(fc.constantFrom(33, 100, 1000, 10_000, 100_000), fc.constantFrom('[', '{"a":'), fc.constantFrom('', '{"content":', '{"content":"x","z":')).map(([n, open, pre]) => {
    const close = open === '[' ? ']' : '}'
    return pre + open.repeat(n) + (open === '[' ? '' : '1') + close.repeat(n) + (pre ? '}' : '')
  }),
  fc.string({ unit: 'binary', maxLength: 50 }),
)

// ---------------------------------------------------------------- what every answer must be

/** API.md's error table: status → the codes it may carry. */
export const ERROR_CODES: Record<number, string[]> = {
  400: ['bad_request'],
  401: ['unauthorized'],
  403: ['not_member', 'forbidden'],
  404: ['not_found'],
  409: ['email_taken', 'conflict'],
  413: ['too_large'],
  // a request line and headers past the server's limit (our huge Authorization values)
  431: ['headers_too_large'],
  422: ['validation', 'room_full', 'message_too_long'],
  429: ['rate_limited'],
}
/** Every error code a WebSocket `error` frame may carry (the REST codes; no `internal`). */
export const WS_ERROR_CODES = new Set(Object.values(ERROR_CODES).flat().concat('unavailable'))

/** Longest `detail` accepted: a sentence, quoting a bad value cut short, never the value itself. */
export const MAX_DETAIL = 400

/** Why an HTTP answer breaks the contract, or null. */
export function answerProblem(status: number, contentType: string, text: string, headers: Headers): string | null {
  if (status >= 500) return `status ${status}`
  if (status < 400) return null
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return `error body is not JSON: ${text.slice(0, 200)}`
  }
  if (!contentType.includes('application/json')) return `error content-type ${contentType}`
  if (typeof body !== 'object' || body === null) return 'error body is not an object'
  const keys = Object.keys(body).sort().join(',')
  if (keys !== 'code,detail') return `error body keys ${keys}`
  const { detail, code } = body as { detail: unknown; code: unknown }
  if (typeof detail !== 'string' || detail.length === 0) return 'detail is not a sentence'
  if (detail.length > MAX_DETAIL) return `detail is ${detail.length} chars long: ${detail.slice(0, 120)}…`
  const allowed = ERROR_CODES[status]
  if (!allowed) return `status ${status} is not in API.md`
  if (typeof code !== 'string' || !allowed.includes(code)) return `code ${String(code)} for status ${status}`
  if (status === 429 && !headers.get('retry-after')) return '429 without Retry-After'
  return null
}

// ---------------------------------------------------------------- the neighbour who must not notice

/**
 * A user sending ordinary messages to their own room while the fuzz runs:
 * every send must be 201 and every message in history afterwards. Bounded
 * in count and time.
 */
/** Every 1,000 cases mid-run: the node still answers /healthz (throws otherwise). */
export async function healthyEvery(baseUrl: string, cases: number): Promise<void> {
  if (cases % 1000 !== 0) return
  const h = await fetch(`${baseUrl}/healthz`)
  if (h.status !== 200) throw new Error(`healthz ${h.status} after ${cases} cases`)
}

export function steadySender(a: Api, user: TestUser, roomId: number, opts: { max: number } = { max: 2000 }) {
  const sent: { cmid: string; status: number; detail?: string }[] = []
  let stop = false
  const done = (async () => {
    for (let i = 0; !stop && i < opts.max; i++) {
      const cmid = `steady-${i}`
      const r = await a('POST', `/v1/rooms/${roomId}/messages`, { token: user.token, body: { content: `steady ${i} 안녕 😀`, client_msg_id: cmid } })
      sent.push({ cmid, status: r.status, ...(r.status === 201 ? {} : { detail: JSON.stringify(r.body).slice(0, 200) }) })
    }
  })()
  return {
    sent,
    async finish() {
      stop = true
      await done
      return sent
    },
  }
}

/** Every client_msg_id in a room's history (paged from the start with after_seq). */
export async function historyCmids(a: Api, user: TestUser, roomId: number): Promise<Set<string>> {
  const out = new Set<string>()
  let after = 0
  for (;;) {
    const r = await a('GET', `/v1/rooms/${roomId}/messages?after_seq=${after}&limit=200`, { token: user.token })
    if (r.status !== 200) throw new Error(`history: ${r.status} ${JSON.stringify(r.body)}`)
    const msgs = r.body.messages as { seq: number; client_msg_id: string | null }[]
    for (const m of msgs) if (m.client_msg_id) out.add(m.client_msg_id)
    if (!msgs.length) return out
    after = msgs[msgs.length - 1]!.seq
  }
}
