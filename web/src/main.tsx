/** The web chat app's entry: bundled by Bun.build (src/http/web.ts), served at `/`. */
import { render } from 'preact'
import { App } from './app'
import { boot, report } from './store'
import './styles.css'

render(<App />, document.getElementById('app')!)
boot().catch(report)
