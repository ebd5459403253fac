import { dlopen, FFIType } from 'bun:ffi'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

/**
 * The accept queue of Bun.serve's listening socket.
 *
 * Bun (1.4) listens with a fixed backlog of 512 and has no option for it. In
 * a reconnect storm (a node restarted, a load balancer failing over)
 * thousands of handshakes arrive within milliseconds. Past 512 handshakes
 * waiting for accept, the kernel drops further SYNs, and each dropped client
 * waits for its TCP retransmit (1 s, then 3 s more) although the server has
 * CPU to spare. `bun run bench connect` measured 5,180–5,527 connects/s with
 * 512 and 7,521–7,663/s with 4,096 (docs/scaling.md).
 *
 * On Linux, listen(2) called again on a listening socket sets its backlog
 * anew (capped by net.core.somaxconn). This finds Bun's listening socket
 * among the process's own descriptors, by the port's LISTEN entry in
 * /proc/net/tcp and /proc/net/tcp6, and calls libc's listen() on it through
 * bun:ffi. Elsewhere (no /proc, no glibc or musl), or when anything fails,
 * it does nothing and says why; the server then works as before, with 512.
 */
export type BacklogResult =
  | { ok: true; fds: number[]; /** what the kernel holds: the asked backlog capped by somaxconn */ backlog: number }
  | { ok: false; reason: string }

/** Inodes of the sockets in LISTEN state on `port` (any address, IPv4 or IPv6). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue // no IPv6 here
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …; st 0A = LISTEN
      const cols = line.trim().split(/\s+/)
      if (cols.length < 10 || cols[3] !== '0A') continue
      const hexPort = cols[1]!.split(':')[1]
      if (hexPort !== undefined && parseInt(hexPort, 16) === port) inodes.add(cols[9]!)
    }
  }
  return inodes
}

/** This process's descriptors that are sockets with one of `inodes`. */
function ownSocketFds(inodes: Set<string>): number[] {
  const fds: number[] = []
  for (const name of readdirSync('/proc/self/fd')) {
    let target: string
    try {
      target = readlinkSync(`/proc/self/fd/${name}`)
    } catch {
      continue // closed between the listing and the read
    }
    const m = /^socket:\[(\d+)\]$/.exec(target)
    if (m && inodes.has(m[1]!)) fds.push(Number(name))
  }
  return fds
}

type Listen = (fd: number, backlog: number) => number

/** libc's listen(2) once loaded; null where no known libc loads. */
let libcListen: Listen | null | undefined

function loadListen(): Listen | null {
  if (libcListen !== undefined) return libcListen
  libcListen = null
  const musl = `libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`
  for (const lib of ['libc.so.6', musl]) {
    try {
      const { symbols } = dlopen(lib, { listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } })
      libcListen = (fd, backlog) => symbols.listen(fd, backlog)
      break
    } catch {
      // not this libc
    }
  }
  return libcListen
}

/** net.core.somaxconn: the kernel's cap on any backlog (4096 since Linux 5.4). */
export function somaxconn(): number | null {
  try {
    const n = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim())
    return Number.isInteger(n) && n > 0 ? n : null
  } catch {
    return null
  }
}

/** Sets the backlog of this process's listening socket(s) on `port` (see above). */
export function raiseListenBacklog(port: number, backlog: number): BacklogResult {
  if (process.platform !== 'linux') return { ok: false, reason: `not on Linux (${process.platform})` }
  try {
    const fds = ownSocketFds(listeningInodes(port))
    if (fds.length === 0) return { ok: false, reason: `no listening socket of this process on port ${port}` }
    const listen = loadListen()
    if (!listen) return { ok: false, reason: 'libc could not be loaded through bun:ffi' }
    for (const fd of fds) {
      if (listen(fd, backlog) !== 0) return { ok: false, reason: `listen(${fd}, ${backlog}) failed` }
    }
    const cap = somaxconn()
    return { ok: true, fds, backlog: cap === null ? backlog : Math.min(backlog, cap) }
  } catch (err) {
    return { ok: false, reason: String(err) }
  }
}
