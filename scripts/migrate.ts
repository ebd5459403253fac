/**
 * `bun run db:migrate`: applies the migrations in drizzle/ to DATABASE_URL (or
 * the embedded database in DATA_DIR) and exits. Run it once per deploy (the
 * compose `migrate` service, the Kubernetes Job) and start the nodes with
 * MIGRATE=0. Nodes that migrate at start take an advisory lock, so running
 * both is safe too.
 */
import { ConfigError, loadConfig } from '../src/config'
import { openDatabase } from '../src/db/client'
import { createLogger } from '../src/lib/logger'

let config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`config error: ${err.message}`)
  process.exit(1)
}
const log = createLogger(config.LOG_LEVEL, { node: config.NODE_ID })
const database = await openDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR })
try {
  await database.migrate()
  log.info('migrations applied', { database: database.kind })
} catch (err) {
  log.error('migration failed', { error: err })
  process.exitCode = 1
} finally {
  await database.close()
}
