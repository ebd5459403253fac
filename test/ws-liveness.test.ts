import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { connect, type Socket } from 'node:net'
import { groupRoom, openWs, register, startServer, until, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** A bare WebSocket client over TCP: it answers pings only if told to, and it can stop reading. */
class RawSocket {
  readonly frames: { opcode: number; payload: Buffer }[] = []
  ended = false
  private buf = Buffer.alloc(0)
  private upgraded = false
  readonly sock: Socket

  constructor(port: number, path: string, private readonly answerPings = false) {
    this.sock = connect(port, '127.0.0.1', () => {
      this.sock.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      )
    })
    this.sock.on('data', (d: Buffer) => this.onData(d))
    this.sock.on('close', () => {
      this.ended = true
    })
    this.sock.on('error', () => {
      this.ended = true
    })
  }

  private onData(d: Buffer) {
    this.buf = Buffer.concat([this.buf, d])
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n')
      if (end < 0) return
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
      this.frames.push({ opcode, payload: this.buf.subarray(at, at + len) })
      if (opcode === 9 && this.answerPings) {
        // a pong with the ping's payload; client frames are masked (a zero mask leaves the bytes as they are)
        this.sock.write(Buffer.concat([Buffer.from([0x8a, 0x80 | len, 0, 0, 0, 0]), this.buf.subarray(at, at + len)]))
      }
      this.buf = this.buf.subarray(at + len)
    }
  }

  closeCode(): number | null {
    const c = this.frames.find((f) => f.opcode === 8)
    return c && c.payload.length >= 2 ? c.payload.readUInt16BE(0) : null
  }
}

let s: TestServer
let alice: TestUser
let bob: TestUser

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0', WS_IDLE_SECONDS: '5', WS_BACKPRESSURE_BYTES: '65536' })
  ;[alice, bob] = await Promise.all([register(s.api, 'alice'), register(s.api, 'bob')])
})
afterAll(() => s.close())

describe('liveness', () => {
  test('an idle socket is pinged, and closed when it never answers', async () => {
    const raw = new RawSocket(Number(new URL(s.url).port), `/v1/ws?token=${alice.token}`)
    await until(() => raw.frames.length > 0, 15_000, 'ready')
    expect(JSON.parse(raw.frames[0]!.payload.toString()).type).toBe('ready')
    await until(() => raw.frames.some((f) => f.opcode === 9), 15_000, 'a ping')
    await until(() => raw.ended, 20_000, 'the server to close the dead socket')
    await until(() => s.chat.gateway.connections === 0, 15_000, 'the session to go')
  }, 45_000)

  test('a live socket answering pings stays open past the idle time', async () => {
    const raw = new RawSocket(Number(new URL(s.url).port), `/v1/ws?token=${alice.token}`, true)
    await until(() => raw.frames.length > 0, 15_000, 'ready')
    // each ping comes after an idle period; one answered and then another means it outlived the first
    await until(() => raw.frames.filter((f) => f.opcode === 9).length >= 2 || raw.ended, 45_000, 'two pings')
    expect(raw.ended).toBe(false)
    expect(raw.closeCode()).toBeNull()
    raw.sock.destroy()
  })

  test('a socket that cannot keep up is closed with 1013, and can resume with after_seq', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const raw = new RawSocket(Number(new URL(s.url).port), `/v1/ws?token=${bob.token}`)
    await until(() => raw.frames.length > 0, 15_000, 'ready')
    raw.sock.pause()
    const sender = await openWs(s, alice)
    const big = 'x'.repeat(900)
    // enough to fill the kernel's buffers and then the server's 64 KiB allowance
    for (let i = 0; i < 6000 && !raw.ended && s.chat.gateway.stats.slow === 0; i++) {
      sender.send({ type: 'message.send', room_id: room.id, content: `${i} ${big}` })
      if (i % 200 === 199) await Bun.sleep(20)
    }
    await until(() => s.chat.gateway.stats.slow >= 1 || raw.ended, 20_000, 'the slow socket to be flagged')
    raw.sock.resume()
    await until(() => raw.ended, 20_000, 'the close to reach the client')
    // the slow socket is sent nothing more and closed with 1013 once what it was sent drained (test/ws-lifetime
    // checks the close frame comes last); this server's 5 s idle timeout may cut a peer that read nothing
    // for that long first, with no close frame. Any close frame that does arrive must say 1013.
    expect([1013, null]).toContain(raw.closeCode())
    // what it missed is there for the resume
    const seen = raw.frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.payload.toString()))
      .filter((f) => f.type === 'message.created').map((f) => f.message.seq as number)
    const last = seen.at(-1) ?? 0
    const resumed = await openWs(s, bob, '&auto_subscribe=false')
    resumed.send({ type: 'subscribe', room_id: room.id, after_seq: last })
    let sub = await resumed.next((f) => f.type === 'subscribed' || f.type === 'resync_required', 15_000)
    let from = last
    if (sub.type === 'resync_required') {
      // more than 1000 behind: the client reads history over REST, then resumes near the end
      from = sub.last_seq - 5
      resumed.send({ type: 'subscribe', room_id: room.id, after_seq: from })
      sub = await resumed.next('subscribed', 15_000)
    }
    const replayed = resumed.all('message.created').map((f) => f.message.seq as number).filter((q) => q > from)
    expect(replayed).toEqual(Array.from({ length: sub.last_seq - from }, (_, i) => from + 1 + i))
    sender.close()
    resumed.close()
  })
})
