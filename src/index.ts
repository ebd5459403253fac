import { createChatServer } from './app'
import { ConfigError, DEV_SECRET_FILE, loadConfig, persistedDevSecret } from './config'
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
if (config.jwtSecretGenerated) {
  try {
    config.JWT_SECRET = persistedDevSecret(config.DATA_DIR)
    log.warn(`JWT_SECRET is not set: using the development secret kept in DATA_DIR/${DEV_SECRET_FILE} (set JWT_SECRET in production)`)
  } catch (err) {
    log.warn('JWT_SECRET is not set and DATA_DIR is not writable: generated one for this run; tokens die with the process', { error: err })
  }
}

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
