// Shared pieces of the dashboard: DOM building (text only, never HTML strings), the API client, number and time
// formatting, and small SVG charts.

/** h builds an element: h('a', {href: '#/'}, 'text', child...). Attribute "on<event>" adds a listener. */
export function h(tag, attrs, ...children) {
  const svg = ['svg', 'polyline', 'line', 'text', 'g', 'rect', 'path', 'circle'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** session holds what the server told the page about its sign-in (token name, scopes, CSRF token). */
export const session = { info: null };

const rank = { read: 1, operate: 2, admin: 3 };
/** can reports whether the session's token has scope (or a stronger one); the server enforces it regardless. */
export function can(scope) {
  const scopes = session.info?.scopes || [];
  return scopes.some((s) => (rank[s] || 0) >= rank[scope]);
}

/** ApiError is a failed API call with the server's error envelope. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.fields = body?.error?.fields || body?.fields;
  }
}

/** api calls the REST API with the session cookie; changes carry the CSRF header. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = session.info?.csrf || '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path.startsWith('/') ? path : '/api/v1/' + path, {
    method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (res.status === 401 && session.onUnauthorized) session.onUnauthorized();
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** all follows next_cursor up to max items. */
export async function all(path, max = 2000) {
  const out = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', path + sep + 'limit=500' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    out.push(...(page.items || []));
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

const binary = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
/** bytes scales a byte count to KiB...TiB. */
export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  let i = 0;
  while (Math.abs(n) >= 1024 && i < binary.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 || n >= 100 ? 0 : 1)} ${binary[i]}`;
}
const decimal = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
/** bits scales bytes per second to bit/s...Tbit/s, as links are rated. */
export function bits(bytesPerSec) {
  if (bytesPerSec === null || bytesPerSec === undefined) return '–';
  let n = bytesPerSec * 8, i = 0;
  while (Math.abs(n) >= 1000 && i < decimal.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${decimal[i]}`;
}
export function pct(n) { return n === null || n === undefined ? '–' : `${n.toFixed(n < 10 ? 1 : 0)} %`; }
export function num(n, d = 2) { return n === null || n === undefined ? '–' : n.toFixed(d); }

/** unit formats a value of a metric series by its unit. */
export function unit(v, u) {
  switch (u) {
    case 'percent': case 'percent of one core': return pct(v);
    case 'bytes': return bytes(v);
    case 'bytes/s': return bits(v);
    case 'celsius': return v === null ? '–' : `${v.toFixed(1)} °C`;
    case 'seconds': return v === null ? '–' : duration(v * 1000);
    default: return v === null ? '–' : (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
  }
}

export function duration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
/** ago renders a time relative to now, with the exact local time in a title. */
export function ago(t) {
  if (!t) return h('span', { class: 'muted' }, 'never');
  const d = new Date(t);
  const s = (d.getTime() - Date.now()) / 1000;
  const a = Math.abs(s);
  let text;
  if (a < 45) text = rtf.format(Math.round(s), 'second');
  else if (a < 2700) text = rtf.format(Math.round(s / 60), 'minute');
  else if (a < 64800) text = rtf.format(Math.round(s / 3600), 'hour');
  else text = rtf.format(Math.round(s / 86400), 'day');
  return h('time', { datetime: d.toISOString(), title: d.toLocaleString() }, text);
}

export function badge(state) {
  const s = String(state || 'unknown');
  return h('span', { class: 'badge s-' + s.replace(/[^a-z_-]/gi, '') }, s);
}

/** sparkline draws values (numbers or nulls) as a small line scaled 0...max(100, values). */
export function sparkline(values, label) {
  const pts = values.filter((v) => v !== null && v !== undefined);
  const svg = h('svg', { class: 'spark', viewBox: '0 0 80 22', role: 'img', 'aria-label': label });
  if (pts.length < 2) return svg;
  const top = Math.max(100, ...pts);
  const step = 80 / (values.length - 1);
  const coords = [];
  values.forEach((v, i) => { if (v !== null && v !== undefined) coords.push(`${(i * step).toFixed(1)},${(21 - (v / top) * 20).toFixed(1)}`); });
  svg.append(h('polyline', { points: coords.join(' ') }));
  return svg;
}

/**
 * chart draws series [{label, unit, points: [{time, avg}]}] as lines with a time axis and a hover read-out.
 * It returns an element; the caller replaces it when the data changes.
 */
export function chart(title, series, from, to) {
  const W = 600, H = 180, L = 52, B = 18, T = 6;
  const u = series[0]?.unit;
  let max = 0;
  for (const s of series) for (const p of s.points) if (p.avg !== null) max = Math.max(max, p.avg);
  if (u === 'percent') max = Math.max(max, 100);
  if (max === 0) max = 1;
  const t0 = new Date(from).getTime(), t1 = new Date(to).getTime();
  const x = (t) => L + ((new Date(t).getTime() - t0) / (t1 - t0)) * (W - L - 4);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const svg = h('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `${title}: ${series.map((s) => s.label).join(', ')}` });
  for (const f of [0, 0.5, 1]) {
    svg.append(h('line', { class: 'axis', x1: L, x2: W, y1: y(max * f), y2: y(max * f) }),
      h('text', { x: 2, y: y(max * f) + 3 }, unit(max * f, u)));
  }
  svg.append(h('text', { x: L, y: H - 4 }, new Date(t0).toLocaleString()),
    h('text', { x: W - 4, y: H - 4, 'text-anchor': 'end' }, new Date(t1).toLocaleString()));
  series.forEach((s, i) => {
    const coords = s.points.filter((p) => p.avg !== null).map((p) => `${x(p.time).toFixed(1)},${y(p.avg).toFixed(1)}`);
    if (coords.length) svg.append(h('polyline', { class: `line c${i % 6}`, points: coords.join(' ') }));
  });
  const cursor = h('line', { class: 'cursor', x1: -10, x2: -10, y1: T, y2: H - B });
  svg.append(cursor);
  const tip = h('div', { class: 'tip', hidden: true });
  const points = series.reduce((n, s) => n + s.points.filter((p) => p.avg !== null).length, 0);
  const box = h('div', { class: 'chart', 'data-points': points },
    h('div', { class: 'legend' }, series.map((s, i) => h('span', { class: `k${i % 6}` }, '■ ', s.label))),
    svg, tip);
  svg.addEventListener('mousemove', (ev) => {
    const r = svg.getBoundingClientRect();
    const t = t0 + ((ev.clientX - r.left) / r.width * W - L) / (W - L - 4) * (t1 - t0);
    const lines = [];
    for (const s of series) {
      let best = null;
      for (const p of s.points) {
        if (p.avg === null) continue;
        if (!best || Math.abs(new Date(p.time) - t) < Math.abs(new Date(best.time) - t)) best = p;
      }
      if (best) lines.push(`${s.label}: ${unit(best.avg, s.unit)}`);
    }
    if (!lines.length) return;
    const px = x(t);
    cursor.setAttribute('x1', px); cursor.setAttribute('x2', px);
    tip.textContent = `${new Date(t).toLocaleString()} — ${lines.join(' · ')}`;
    tip.hidden = false;
  });
  svg.addEventListener('mouseleave', () => { tip.hidden = true; cursor.setAttribute('x1', -10); cursor.setAttribute('x2', -10); });
  return box;
}

/** confirmAction asks in a modal dialog; it resolves true when confirmed. */
export function confirmAction(title, text, okLabel = 'Confirm') {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}

/** errorBox shows a failed load with what to do. */
export function errorBox(err, what) {
  const hint = err.status === 403 ? 'Your token lacks the scope for this page.'
    : err.status >= 500 || !err.status ? 'The server could not answer; it retries when live updates resume, or reload.' : '';
  return h('div', { class: 'empty error', role: 'alert' }, `Could not load ${what}: ${err.message}. ${hint}`);
}

/**
 * tails lets a page watch live log topics on the dashboard's one WebSocket (app.js connects it). A log topic is
 * subscribed on its own, so a refused tail (too many tails) never takes the dashboard's other topics with it; the
 * watched topics are subscribed again after every reconnect.
 */
export const tails = {
  watched: new Map(), // topic -> the id of its subscribe message (ids are at most 64 bytes; topics can be longer)
  seq: 0,
  send: null, // set by app.js while the stream is up
  watch(topic) {
    const id = 'tail:' + (++this.seq);
    this.watched.set(topic, id);
    this.send?.({ type: 'subscribe', id, topics: [topic] });
  },
  unwatch(topic) {
    const id = this.watched.get(topic);
    if (id === undefined) return;
    this.watched.delete(topic);
    this.send?.({ type: 'unsubscribe', id, topics: [topic] });
  },
  idOf(topic) { return this.watched.get(topic); },
};
