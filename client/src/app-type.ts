/**
 * The server's app type, for Eden Treaty: type-only, it adds no runtime code
 * and imports none of the server. In this repository it is read from the
 * server's source (`src/http/app.ts`); a published package ships it as a
 * generated declaration instead (client/README.md).
 */
export type { App } from '../../src/http/app'
