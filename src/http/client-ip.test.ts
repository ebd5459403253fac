import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createClientIp, ipKey, LOCAL_CLIENT } from './client-ip'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

describe('ipKey', () => {
  test('IPv4 as is; IPv6 by /64; IPv4-mapped IPv6 as IPv4; brackets and zones dropped', () => {
    expect(ipKey('192.0.2.1')).toBe('192.0.2.1')
    expect(ipKey(' 192.0.2.1 ')).toBe('192.0.2.1')
    expect(ipKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64')
    expect(ipKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64')
    expect(ipKey('[2001:db8:1:2::9]')).toBe('2001:db8:1:2::/64')
    expect(ipKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(ipKey('::1')).toBe('0:0:0:0::/64')
    expect(ipKey('::')).toBe('0:0:0:0::/64')
    expect(ipKey('::ffff:192.0.2.7')).toBe('192.0.2.7')
    expect(ipKey('0:0:0:0:0:ffff:c000:207')).toBe('192.0.2.7')
    expect(ipKey('64:ff9b::192.0.2.7')).toBe('64:ff9b:0:0::/64')
  })

  test('anything else is not an address', () => {
    for (const v of ['', 'unknown', '192.0.2.1:8080', '1.2.3', '2001:db8::1::2', 'localhost', '300.1.1.1']) expect(ipKey(v)).toBeNull()
  })
})

describe('createClientIp', () => {
  const req = (xff?: string) => new Request('http://x/', { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } })

  test('without trustProxy: the socket address, whatever X-Forwarded-For says; none known → LOCAL_CLIENT', () => {
    const c = createClientIp({ trustProxy: false })
    const r = req('203.0.113.9')
    c.remember(r, '127.0.0.1')
    expect(c.of(r)).toBe('127.0.0.1')
    expect(c.of(req('203.0.113.9'))).toBe(LOCAL_CLIENT)
  })

  test('with trustProxy: the first X-Forwarded-For address, else the socket address', () => {
    const c = createClientIp({ trustProxy: true })
    const r = req('203.0.113.9, 10.0.0.1')
    c.remember(r, '10.0.0.2')
    expect(c.of(r)).toBe('203.0.113.9')
    const v6 = req('2001:db8:a:b:1:2:3:4')
    expect(c.of(v6)).toBe('2001:db8:a:b::/64')
    const junk = req('not-an-ip')
    c.remember(junk, '10.0.0.2')
    expect(c.of(junk)).toBe('10.0.0.2')
    expect(c.of(req())).toBe(LOCAL_CLIENT)
  })
})
