import { Elysia } from 'elysia'
import type { ReactionsService } from '../chat/reactions'
import type { SettingsService } from '../chat/settings'
import { presenceRoutes } from './presence'
import { reactionRoutes } from './reactions'
import { searchRoutes, type SearchRoutesDeps } from './search'
import { settingsRoutes } from './settings'

/** Presence, settings, reactions and search (the routes of the chat features), one file each. */
export const featureRoutes = (d: SearchRoutesDeps & {
  settings: SettingsService
  reactions: ReactionsService
}) =>
  new Elysia()
    .use(presenceRoutes(d.rooms, d.auth))
    .use(settingsRoutes(d.settings, d.auth))
    .use(reactionRoutes(d.reactions, d.auth))
    .use(searchRoutes(d))
