// The dashboard's entry point: sign-in state, navigation, the hash router and the live stream.
import { h, api, session, tails } from './lib.js';
import { routes, placeholder } from './pages.js';

// Navigation: the pages that exist, then the places for data still to come (they say so when opened).
const NAV = [
  ['#/', 'Fleet'], ['#/containers', 'Containers'], ['#/operations', 'Operations'], ['#/alerts', 'Alerts'],
  ['#/drives', 'Drives'], ['#/pools', 'Pools'], ['#/logs', 'Logs'], ['#/services', 'Services'],
  ['#/updates', 'Updates'], ['#/vms', 'VMs'], ['#/networks', 'Networks'],
  ['#/admin/rules', 'Rules', 'read'], ['#/admin/channels', 'Channels', 'admin'], ['#/admin/windows', 'Windows', 'read'],
  ['#/admin/schedules', 'Schedules', 'read'], ['#/admin/tokens', 'Tokens', 'admin'], ['#/admin/audit', 'Audit', 'admin'],
];

const $ = (id) => document.getElementById(id);
let current = null; // the rendered page: {refresh, onUpdate, dispose}
// The page being rendered: a page fetches its parts one after another, and an update that arrives before it is up
// has no page to go to, so it marks the page to be refetched once it is (a device blocked while its page loaded
// stayed shown online).
let rendering = null;

/** toPage hands an update (or, with refresh, a resynchronisation) to the page, or marks the page being rendered. */
function toPage(msg) {
  if (current) { if (msg) current.onUpdate?.(msg); else current.refresh?.(); }
  else if (rendering) rendering.missed = true;
}

/** Live keeps one WebSocket to /ws (authenticated by the session cookie), resubscribing and resynchronising the
 * page after every reconnect, and shows when the stream is lost. */
class Live {
  constructor() { this.attempt = 0; this.lost = false; this.stopped = false; }
  start() { this.stopped = false; this.connect(); }
  stop() { this.stopped = true; this.ws?.close(); }
  connect() {
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    this.ws = ws;
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === 'welcome') {
        ws.send(JSON.stringify({ type: 'subscribe', id: 'dashboard',
          topics: ['device.*.status', 'device.*.metrics', 'device.*.containers', 'device.*.services', 'device.*.storage', 'operations', 'events'] }));
      } else if (msg.type === 'subscribed' && msg.id === 'dashboard') {
        tails.send = (m) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); };
        for (const [topic, id] of tails.watched) tails.send({ type: 'subscribe', id, topics: [topic] });
        this.attempt = 0;
        this.lost = false;
        setStream('live');
        // The page fetched its data before this subscription took effect (or while the stream was down): what
        // changed in between was published to nobody, so it is refetched now that updates flow.
        toPage(null);
      } else if (msg.type === 'update') {
        toPage(msg);
      } else if ((msg.type === 'error' || msg.type === 'subscribed') && String(msg.id || '').startsWith('tail:')) {
        current?.onUpdate?.({ ...msg, topic: '' }); // a live tail accepted or refused: the page that asked for it says so
      }
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws === ws) tails.send = null;
      if (this.stopped || this.ws !== ws) return;
      // 1008: the server refused the session (signed out elsewhere, expired, token revoked); asking the session
      // endpoint shows the sign-in form when that is so.
      if (ev.code === 1008) api('GET', '/web/session').catch(() => {});
      this.lost = true;
      setStream('lost');
      const wait = Math.min(15000, 500 * 2 ** this.attempt++) * (0.75 + Math.random() / 2);
      setTimeout(() => { if (!this.stopped) this.connect(); }, wait);
    });
  }
}
const live = new Live();

function setStream(state) {
  document.body.dataset.stream = state;
  const el = $('stream');
  el.hidden = state !== 'lost';
  el.textContent = state === 'lost' ? 'Live updates lost — reconnecting… Figures may be stale until they resume.' : '';
}

function renderNav() {
  const nav = $('nav');
  nav.replaceChildren(...NAV.filter(([, , scope]) => !scope || can(scope)).map(([href, label]) =>
    h('a', { href, class: routeFor(href).later ? 'later' : null }, label)));
  markNav();
}
function can(scope) {
  const rank = { read: 1, operate: 2, admin: 3 };
  return (session.info?.scopes || []).some((s) => rank[s] >= rank[scope]);
}
function markNav() {
  const hash = location.hash || '#/';
  for (const a of $('nav').querySelectorAll('a')) {
    const href = a.getAttribute('href');
    const active = href === '#/' ? hash === '#/' || hash.startsWith('#/devices/') : hash.startsWith(href);
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function routeFor(hash) {
  const path = (hash || '#/').replace(/^#/, '') || '/';
  for (const r of routes) {
    const m = path.match(r.pattern);
    if (m) return { ...r, params: m.slice(1).map(decodeURIComponent) };
  }
  return { render: placeholder('Not found', 'There is no page at this address.'), params: [] };
}

async function route() {
  if (!session.info) return;
  current?.dispose?.();
  current = null;
  markNav();
  const r = routeFor(location.hash);
  const root = h('div', {});
  $('page').replaceChildren(root);
  const mine = { missed: false };
  rendering = mine;
  const page = await r.render(root, ...r.params);
  if (rendering === mine) rendering = null;
  if ($('page').firstChild === root) {
    current = page || null;
    if (mine.missed) current?.refresh?.();
  }
  document.title = (root.querySelector('h1')?.textContent || 'Dashboard') + ' · Infrastructor';
}

function showSignIn() {
  session.info = null;
  live.stop();
  current?.dispose?.();
  current = null;
  $('page').replaceChildren();
  $('nav').hidden = true;
  $('who').hidden = true;
  $('signin').hidden = false;
  setStream('off');
  const err = new URLSearchParams(location.search).get('signin_error');
  const msgs = {
    invalid: 'That token was not accepted: it is unknown, expired or revoked.',
    rate_limited: 'Too many failed sign-ins from this address; wait a minute and try again.',
    missing: 'Paste a token first.',
    origin: 'Sign in from this server\'s own page.',
  };
  $('signin-error').hidden = !err;
  $('signin-error').textContent = err ? (msgs[err] || 'Sign-in failed.') : '';
  $('token').focus();
}

async function start() {
  session.onUnauthorized = () => showSignIn();
  try {
    session.info = await api('GET', '/web/session');
  } catch {
    showSignIn();
    return;
  }
  if (location.search) history.replaceState(null, '', '/' + location.hash);
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('who').hidden = false;
  $('who-name').textContent = `${session.info.token_name} (${session.info.scopes.join(', ')})`;
  document.body.dataset.scopes = session.info.scopes.join(' ');
  renderNav();
  live.start();
  await route();
}

$('signout').addEventListener('click', async () => {
  try { await api('DELETE', '/web/session'); } catch { /* signed out either way */ }
  showSignIn();
});
window.addEventListener('hashchange', () => { route(); $('main').focus({ preventScroll: true }); });
start();
