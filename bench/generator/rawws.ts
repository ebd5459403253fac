/**
 * A minimal client-side WebSocket (RFC 6455) over Bun.connect, for the load
 * generator only: the handshake, masked text frames out, unmasked frames in
 * (text, ping → pong, close), and nothing else (no extensions, no binary
 * messages, no TLS). The payload of each text frame is handed over as bytes
 * (buffer, start, end), so the generator scans only what its accounting
 * needs instead of decoding and parsing every frame. It also binds each
 * socket to a chosen loopback source address, so that one process can open
 * more sockets to one server port than the ~28k ephemeral ports of a single
 * address.
 *
 * Measured against Bun's WebSocket class in the same fan-out run: see
 * bench/README.md ("Generator").
 */
import type { Socket, SocketHandler, TCPSocketConnectOptions } from 'bun'

/** What a RawWs tells its owner; one shared object for all sockets (no closures per socket). */
export type RawWsEvents<O> = {
  /** the server answered 101 */
  open(owner: O, ws: RawWs<O>): void
  /** a complete text message: bytes [start, end) of `buf` (valid during the call only) */
  text(owner: O, ws: RawWs<O>, buf: Buffer, start: number, end: number): void
  /** the upgrade was refused (`http <status>`) or the TCP connect failed */
  refused(owner: O, ws: RawWs<O>, reason: string): void
  /** the socket is gone; `code` from the server's close frame, 1006 without one */
  closed(owner: O, ws: RawWs<O>, code: number): void
}

const CONNECTING = 0
const HANDSHAKE = 1
const OPEN = 2
const CLOSING = 3
const CLOSED = 4

const HEADER_END = Buffer.from('\r\n\r\n')
/** Any fixed key does: the generator does not check Sec-WebSocket-Accept (the 101 is enough for a bench). */
const KEY = 'YmVuY2gtZ2VuZXJhdG9yIQ=='

/** 4-byte masks, drawn once: masking must happen, its unpredictability protects proxies, not a loopback bench. */
const MASKS = crypto.getRandomValues(new Uint8Array(4096))
let maskAt = 0

export class RawWs<O> {
  state = CONNECTING
  private sock: Socket<RawWs<O>> | null = null
  /** bytes received but not yet a whole frame (or the handshake's head) */
  private acc: Buffer | null = null
  /** a fragmented text message being assembled */
  private frag: Buffer[] | null = null
  /** frames the kernel did not take yet, in order */
  private out: Uint8Array[] | null = null
  private closeCode = 1006

  constructor(
    readonly owner: O,
    private readonly events: RawWsEvents<O>,
  ) {}

  /** Opens the TCP connection from `localAddress` and sends the upgrade request of `url` (ws://host:port/path). */
  connect(url: string, localAddress?: string): void {
    const u = new URL(url)
    const port = Number(u.port || 80)
    const head = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`
    const opts: TCPSocketConnectOptions<RawWs<O>> & { localAddress?: string } = {
      hostname: u.hostname,
      port,
      data: this,
      socket: HANDLERS as SocketHandler<RawWs<O>>,
    }
    // Bun.connect binds to `localAddress` (as node:net does) though its types do not list it
    if (localAddress) opts.localAddress = localAddress
    Bun.connect<RawWs<O>>(opts).then(
      (sock) => {
        this.sock = sock
        if (this.state === CLOSED) {
          sock.end()
          return
        }
        this.state = HANDSHAKE
        this.write(Buffer.from(head))
      },
      (e: unknown) => this.fail(`connect: ${e instanceof Error ? (e as NodeJS.ErrnoException).code ?? e.message : String(e)}`),
    )
  }

  get isOpen(): boolean {
    return this.state === OPEN
  }

  /** Sends one text message (masked, one frame). False when the socket is not open. */
  send(text: string): boolean {
    if (this.state !== OPEN) return false
    this.write(encodeFrame(0x1, Buffer.from(text)))
    return true
  }

  /** Starts the closing handshake; the server answers and ends the connection. */
  close(code = 1000): void {
    if (this.state === OPEN) {
      const p = Buffer.allocUnsafe(2)
      p.writeUInt16BE(code, 0)
      this.write(encodeFrame(0x8, p))
      this.state = CLOSING
    } else if (this.state < OPEN) {
      this.state = CLOSED
      this.sock?.end()
    }
  }

  /** Drops the connection without a close frame. */
  terminate(): void {
    this.sock?.terminate()
  }

  private fail(reason: string): void {
    if (this.state === CLOSED) return
    const wasConnecting = this.state < OPEN
    this.state = CLOSED
    if (wasConnecting) this.events.refused(this.owner, this, reason)
    else this.events.closed(this.owner, this, this.closeCode)
  }

  private write(buf: Uint8Array): void {
    const sock = this.sock
    if (!sock) return
    if (this.out) {
      this.out.push(buf)
      return
    }
    const n = sock.write(buf)
    if (n < buf.length) this.out = [buf.subarray(Math.max(0, n))]
  }

  /** @internal Bun's drain: the kernel takes more. */
  onDrain(): void {
    const sock = this.sock
    const q = this.out
    if (!sock || !q) return
    while (q.length) {
      const b = q[0]!
      const n = sock.write(b)
      if (n < b.length) {
        q[0] = b.subarray(Math.max(0, n))
        return
      }
      q.shift()
    }
    this.out = null
  }

  /** @internal Bun's data: handshake head, then frames. */
  onData(chunk: Buffer): void {
    let buf = chunk
    if (this.acc) {
      buf = Buffer.concat([this.acc, chunk])
      this.acc = null
    }
    let i = 0
    if (this.state === HANDSHAKE) {
      const e = buf.indexOf(HEADER_END)
      if (e < 0) {
        this.acc = Buffer.from(buf)
        return
      }
      // "HTTP/1.1 101 ..."
      const status = (buf[9]! - 48) * 100 + (buf[10]! - 48) * 10 + (buf[11]! - 48)
      if (status !== 101) {
        this.fail(`http ${status}`)
        this.sock?.end()
        return
      }
      this.state = OPEN
      this.events.open(this.owner, this)
      i = e + 4
    }
    const n = buf.length
    while (i + 2 <= n && this.state !== CLOSED) {
      const b0 = buf[i]!
      let len = buf[i + 1]! & 0x7f
      let h = 2
      if (len === 126) {
        if (i + 4 > n) break
        len = buf.readUInt16BE(i + 2)
        h = 4
      } else if (len === 127) {
        if (i + 10 > n) break
        len = buf.readUInt32BE(i + 2) * 0x1_0000_0000 + buf.readUInt32BE(i + 6)
        h = 10
      }
      if (i + h + len > n) break
      const ps = i + h
      const pe = ps + len
      i = pe
      const op = b0 & 0x0f
      if (op === 0x1 || op === 0x0) {
        if (b0 & 0x80) {
          if (this.frag) {
            this.frag.push(buf.subarray(ps, pe))
            const whole = Buffer.concat(this.frag)
            this.frag = null
            this.events.text(this.owner, this, whole, 0, whole.length)
          } else this.events.text(this.owner, this, buf, ps, pe)
        } else (this.frag ??= []).push(Buffer.from(buf.subarray(ps, pe)))
      } else if (op === 0x9) {
        this.write(encodeFrame(0xa, buf.subarray(ps, pe)))
      } else if (op === 0x8) {
        this.closeCode = len >= 2 ? buf.readUInt16BE(ps) : 1005
        if (this.state === OPEN) this.write(encodeFrame(0x8, buf.subarray(ps, Math.min(pe, ps + 2))))
        this.state = CLOSING
        this.sock?.end()
      }
      // 0xa (pong), binary: ignored
    }
    if (i < n && this.state !== CLOSED) this.acc = Buffer.from(buf.subarray(i))
  }

  /** @internal the connection is gone */
  onClose(): void {
    this.fail('closed before the upgrade')
  }
}

/** One masked frame, FIN set. */
function encodeFrame(op: number, payload: Uint8Array): Buffer {
  const len = payload.length
  const h = len < 126 ? 2 : len < 65536 ? 4 : 10
  const f = Buffer.allocUnsafe(h + 4 + len)
  f[0] = 0x80 | op
  if (h === 2) f[1] = 0x80 | len
  else if (h === 4) {
    f[1] = 0x80 | 126
    f.writeUInt16BE(len, 2)
  } else {
    f[1] = 0x80 | 127
    f.writeUInt32BE(Math.floor(len / 0x1_0000_0000), 2)
    f.writeUInt32BE(len >>> 0, 6)
  }
  if (maskAt + 4 > MASKS.length) maskAt = 0
  const m0 = MASKS[maskAt]!, m1 = MASKS[maskAt + 1]!, m2 = MASKS[maskAt + 2]!, m3 = MASKS[maskAt + 3]!
  maskAt += 4
  f[h] = m0
  f[h + 1] = m1
  f[h + 2] = m2
  f[h + 3] = m3
  const o = h + 4
  let j = 0
  for (; j + 4 <= len; j += 4) {
    f[o + j] = payload[j]! ^ m0
    f[o + j + 1] = payload[j + 1]! ^ m1
    f[o + j + 2] = payload[j + 2]! ^ m2
    f[o + j + 3] = payload[j + 3]! ^ m3
  }
  for (; j < len; j++) f[o + j] = payload[j]! ^ MASKS[maskAt - 4 + (j & 3)]!
  return f
}

/** Bun's socket handlers, one object for every RawWs: `sock.data` is the RawWs. */
const HANDLERS: SocketHandler<RawWs<unknown>> = {
  data(sock, chunk) {
    sock.data.onData(chunk)
  },
  drain(sock) {
    sock.data.onDrain()
  },
  end(sock) {
    sock.end()
  },
  close(sock) {
    sock.data.onClose()
  },
  error(sock) {
    sock.data.onClose()
  },
  connectError(sock) {
    sock.data.onClose()
  },
}
