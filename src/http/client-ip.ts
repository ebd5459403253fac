import { isIP } from 'node:net'

/** The client key of a request that did not come through the listener (in-process `app.handle`). */
export const LOCAL_CLIENT = 'local'

export type ClientIp = ReturnType<typeof createClientIp>

/**
 * The client of a request, as rate limits count it: the socket's address, or
 * with `trustProxy` the first `X-Forwarded-For` address (API.md; the proxy in
 * deploy/ drops what the client sent and sets its own). IPv6 addresses are
 * grouped by /64, the block one subscriber usually holds; IPv4-mapped IPv6
 * addresses count as the IPv4 address.
 */
export function createClientIp(o: { trustProxy: boolean }) {
  // the socket address is only known in Bun's fetch; the routes see the Request
  const socketIps = new WeakMap<Request, string>()
  return {
    /** Notes the socket address of a request (called in the server's fetch). */
    remember(req: Request, address: string | null | undefined) {
      if (address) socketIps.set(req, address)
    },
    /** The rate-limit key of the request's client; LOCAL_CLIENT when no address is known. */
    of(req: Request): string {
      if (o.trustProxy) {
        const forwarded = req.headers.get('x-forwarded-for')
        if (forwarded) {
          const first = ipKey(forwarded.split(',')[0]!)
          if (first) return first
        }
      }
      const socket = socketIps.get(req)
      return (socket && ipKey(socket)) || LOCAL_CLIENT
    },
  }
}

/**
 * The rate-limit key of one address: IPv4 as is, IPv6 as its /64 prefix
 * (`2001:db8:1:2::/64`); null when it is not an IP address.
 */
export function ipKey(raw: string): string | null {
  let a = raw.trim()
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1)
  const zone = a.indexOf('%')
  if (zone >= 0) a = a.slice(0, zone)
  const family = isIP(a)
  if (family === 4) return a
  if (family !== 6) return null
  const groups = expand6(a)
  // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`
}

/** The eight 16-bit groups of a valid IPv6 address (`::` and a trailing IPv4 part expanded). */
function expand6(a: string): number[] {
  let tail: number[] = []
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a)
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number]
    tail = [(b0 << 8) | b1, (b2 << 8) | b3]
    a = a.slice(0, v4.index) + '0'
  }
  const parse = (s: string) => (s ? s.split(':').map((h) => parseInt(h, 16)) : [])
  const [head, rest] = a.split('::') as [string, string | undefined]
  let groups: number[]
  if (rest === undefined) groups = parse(head)
  else {
    const h = parse(head)
    const r = parse(rest)
    groups = [...h, ...Array<number>(8 - (v4 ? 1 : 0) - h.length - r.length).fill(0), ...r]
  }
  if (v4) groups = [...groups.slice(0, -1), ...tail]
  return groups
}
