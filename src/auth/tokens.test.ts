import { describe, expect, test } from 'bun:test'
import { jwtVerify, SignJWT } from 'jose'
import { createAccessTokens, hs256Verifier } from './tokens'

const secret = 'test-secret-0123456789'
const key = new TextEncoder().encode(secret)
const now = Math.floor(Date.now() / 1000)

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
/** A token with any header and payload, signed with `k` over exactly what it carries. */
function forge(header: unknown, payload: unknown, k: Uint8Array = key): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${new Bun.CryptoHasher('sha256', k).update(input).digest('base64url')}`
}
const claims = { typ: 'access', sub: '7', sid: 'login-7', exp: now + 600 }

/** What jose's jwtVerify (the checker this replaces) says of a token: the reference. */
async function joseAccepts(token: string): Promise<boolean> {
  try {
    await jwtVerify(token, key, { algorithms: ['HS256'] })
    return true
  } catch {
    return false
  }
}

describe('hs256Verifier: the same answers as jose jwtVerify with algorithms [HS256]', () => {
  const good = forge({ alg: 'HS256' }, claims)
  const cases: [string, string][] = [
    ['a good token', good],
    ['a good token with typ JWT', forge({ alg: 'HS256', typ: 'JWT' }, claims)],
    ['a flipped signature', good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA')],
    ['another key', forge({ alg: 'HS256' }, claims, new TextEncoder().encode('other'))],
    ['alg none', `${b64({ alg: 'none' })}.${b64(claims)}.`],
    ['alg none, signed anyway', forge({ alg: 'none' }, claims)],
    ['alg HS512 in the header', forge({ alg: 'HS512' }, claims)],
    ['a crit header', forge({ alg: 'HS256', crit: ['b64'], b64: false }, claims)],
    ['expired', forge({ alg: 'HS256' }, { ...claims, exp: now - 1 })],
    ['exp not a number', forge({ alg: 'HS256' }, { ...claims, exp: String(now + 600) })],
    ['not yet valid (nbf)', forge({ alg: 'HS256' }, { ...claims, nbf: now + 600 })],
    ['iat not a number', forge({ alg: 'HS256' }, { ...claims, iat: 'x' })],
    ['a payload that is an array', forge({ alg: 'HS256' }, [1, 2])],
    ['a payload that is not JSON', forge({ alg: 'HS256' }, 'not json')],
    ['a header that is not JSON', forge('nope', claims)],
    ['two parts', good.split('.').slice(0, 2).join('.')],
    ['four parts', `${good}.x`],
    ['padding in a part', good.replace('.', '=.')],
    ['empty', ''],
  ]
  for (const [name, token] of cases) {
    test(name, async () => {
      const ours = hs256Verifier(secret)(token, now) !== null
      expect(ours).toBe(await joseAccepts(token))
    })
  }
})

describe('access tokens', () => {
  test('sign → claims round trip; a token of another secret, or a refresh-like token, is 401', async () => {
    const tokens = createAccessTokens(secret, 900)
    const t = await tokens.sign(7, 'login-7')
    expect(await tokens.claims(t)).toMatchObject({ userId: 7, sid: 'login-7' })
    // jose verifies what the signer made, too
    expect(await joseAccepts(t)).toBe(true)
    await expect(createAccessTokens('another', 900).claims(t)).rejects.toMatchObject({ code: 'unauthorized' })
    const notAccess = await new SignJWT({ typ: 'refresh', sub: '7' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 60).sign(key)
    await expect(tokens.claims(notAccess)).rejects.toMatchObject({ code: 'unauthorized' })
    await expect(tokens.claims(forge({ alg: 'HS256' }, { ...claims, sub: 7 }))).rejects.toMatchObject({ code: 'unauthorized' })
  })

  test('an expired token (negative TTL) is 401', async () => {
    const tokens = createAccessTokens(secret, -10)
    await expect(tokens.claims(await tokens.sign(7, 'login-7'))).rejects.toMatchObject({ code: 'unauthorized' })
  })
})
