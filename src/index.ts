import { createChatServer } from './app'
import { ConfigError, loadConfig } from './config'
import { createLogger } from './lib/logger'

let config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`config error: ${err.message}`)
    process.exit(1)
  }
  throw err
}

const log = createLogger(config.LOG_LEVEL, { node: config.NODE_ID })
if (config.jwtSecretGenerated) log.warn('JWT_SECRET is not set: generated one for this run; tokens die with the process')

const chat = await createChatServer(config, log)
const server = chat.listen()
log.info('listening', { url: server.url.href, database: chat.database.kind, bus: chat.bus.kind })

let stopping = false
const shutdown = async (signal: string) => {
  if (stopping) return
  stopping = true
  log.info('draining', { signal })
  const hard = setTimeout(() => {
    log.error('drain took too long; exiting')
    process.exit(1)
  }, config.SHUTDOWN_GRACE_MS + 1500)
  try {
    await chat.close()
    log.info('drained')
  } finally {
    clearTimeout(hard)
    process.exit(0)
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
