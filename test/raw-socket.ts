import type { Socket } from 'bun'

/** One frame as it came off the wire (unmasked: the server never masks). */
export type RawFrame = { opcode: number; payload: Buffer }

export const Opcode = { text: 1, close: 8, ping: 9, pong: 10 } as const

/**
 * A minimal RFC 6455 client over `Bun.connect`, for what a browser client
 * cannot do: stop reading (`pause`), so the server's send buffer fills, and
 * see every frame as sent, the close frame included. It answers pings only
 * when opened with `answerPings` (a dead client does not); on the server's
 * close frame it answers with a close.
 */
export class RawWebSocket {
  readonly frames: RawFrame[] = []
  /** the HTTP status of the handshake answer (101 when upgraded) */
  status = 0
  /** the TCP connection is gone */
  ended = false
  /** bytes received, handshake included */
  received = 0
  private buf: Buffer = Buffer.alloc(0)
  private upgraded = false
  private sock: Socket<undefined> | null = null

  private constructor(private readonly answerPings: boolean) {}

  /** Connects to 127.0.0.1:`port` and sends the upgrade request for `path`; resolves once the handshake answered. */
  static async open(port: number, path: string, opts: { answerPings?: boolean } = {}): Promise<RawWebSocket> {
    const raw = new RawWebSocket(opts.answerPings ?? false)
    let answered: () => void = () => {}
    const handshake = new Promise<void>((resolve) => {
      answered = resolve
    })
    raw.sock = await Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(s) {
          s.write(
            `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
              'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          )
        },
        data(_s, d) {
          raw.onData(Buffer.from(d))
          if (raw.status) answered()
        },
        close() {
          raw.ended = true
          answered()
        },
        error() {
          raw.ended = true
          answered()
        },
      },
    })
    await handshake
    return raw
  }

  /** Stops reading from the kernel: the server sees TCP backpressure and buffers. */
  pause() {
    this.sock?.pause()
  }

  resume() {
    this.sock?.resume()
  }

  /** Sends one masked text frame. */
  send(text: string) {
    this.write(Opcode.text, Buffer.from(text))
  }

  /** The JSON of every text frame received. */
  json(): { type: string; [k: string]: any }[] { // any: frames are asserted field by field
    return this.frames.filter((f) => f.opcode === Opcode.text).map((f) => JSON.parse(f.payload.toString()))
  }

  /** The code of the server's close frame, or null when none arrived. */
  closeCode(): number | null {
    const c = this.frames.find((f) => f.opcode === Opcode.close)
    return c && c.payload.length >= 2 ? c.payload.readUInt16BE(0) : null
  }

  end() {
    this.sock?.end()
  }

  /** Drops the TCP connection without a closing handshake. */
  destroy() {
    this.sock?.terminate()
  }

  private write(opcode: number, payload: Buffer) {
    const mask = crypto.getRandomValues(new Uint8Array(4))
    const len = payload.length
    const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
      : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
      : (() => {
          const h = Buffer.alloc(10)
          h[0] = 0x80 | opcode
          h[1] = 0x80 | 127
          h.writeBigUInt64BE(BigInt(len), 2)
          return h
        })()
    const body = Buffer.alloc(len)
    for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!
    this.sock?.write(Buffer.concat([head, Buffer.from(mask), body]))
  }

  private onData(d: Buffer) {
    this.received += d.length
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n')
      if (end < 0) return
      this.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(this.buf.subarray(0, end).toString())?.[1] ?? 0)
      if (this.status !== 101) return
      this.upgraded = true
      this.buf = this.buf.subarray(end + 4)
    }
    for (;;) {
      if (this.buf.length < 2) return
      const opcode = this.buf[0]! & 0x0f
      let len = this.buf[1]! & 0x7f
      let at = 2
      if (len === 126) {
        if (this.buf.length < 4) return
        len = this.buf.readUInt16BE(2)
        at = 4
      } else if (len === 127) {
        if (this.buf.length < 10) return
        len = Number(this.buf.readBigUInt64BE(2))
        at = 10
      }
      if (this.buf.length < at + len) return
      const payload = Buffer.from(this.buf.subarray(at, at + len))
      this.frames.push({ opcode, payload })
      this.buf = this.buf.subarray(at + len)
      // the closing handshake: answer the server's close with ours (same code)
      if (opcode === Opcode.close) this.write(Opcode.close, payload.subarray(0, 2))
      if (opcode === Opcode.ping && this.answerPings) this.write(Opcode.pong, payload)
    }
  }
}
