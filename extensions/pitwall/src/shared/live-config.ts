/** Where the live map finds the gateway. Pure: the endpoint reads it from Directus's env, the panel from the answer. */

/** `GET /pitwall/live/config`: the gateway's WebSocket URL when Directus's env names one, and why not when it is unusable. */
export interface LiveConfig {
  url: string | null;
  problem?: string;
}

/** The port and path of the gateway when nothing says otherwise (LIVE_WS_PORT's default, CONTRACTS section 6). */
export const DEFAULT_LIVE_PORT = 8090;
export const LIVE_PATH = '/ws-live';

/** Reads `PITWALL_LIVE_URL`: a ws:// or wss:// URL, or nothing (then the panel uses the page's host name). */
export function liveConfig(env: Record<string, unknown>): LiveConfig {
  const raw = env['PITWALL_LIVE_URL'];
  const value = typeof raw === 'string' ? raw.trim() : '';
  if (!value) return { url: null };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { url: null, problem: `PITWALL_LIVE_URL is not a URL: ${value}` };
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return { url: null, problem: `PITWALL_LIVE_URL must start with ws:// or wss://, not ${url.protocol}//` };
  return { url: url.toString() };
}

/** Names of this machine itself, as browsers give `location.hostname`. */
const LOOPBACK: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The URL the panel connects to: its own option, else what Directus's env names, else the gateway's default port on
 * the host name the page was loaded from (the browser sends the Directus session cookie to any port of that host).
 * Where Directus's env names this machine one way (`ws://localhost:8090`) and the page was opened another
 * (`http://127.0.0.1:8055`), the page's name is used: the session cookie goes only to the name it was set for, and
 * the gateway refused the map with a 401.
 */
export function gatewayUrl(option: unknown, configured: string | null, page: { protocol: string; hostname: string }): string {
  const own = typeof option === 'string' ? option.trim() : '';
  if (own) return own;
  if (configured) {
    const url = new URL(configured);
    if (!LOOPBACK.has(url.hostname) || !LOOPBACK.has(page.hostname) || url.hostname === page.hostname) return configured;
    url.hostname = page.hostname;
    return url.toString();
  }
  const scheme = page.protocol === 'https:' ? 'wss' : 'ws';
  // Browsers give an IPv6 host name in brackets already; a bare one gets them.
  const host = page.hostname.includes(':') && !page.hostname.startsWith('[') ? `[${page.hostname}]` : page.hostname;
  return `${scheme}://${host}:${DEFAULT_LIVE_PORT}${LIVE_PATH}`;
}
