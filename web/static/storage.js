// Drives and ZFS pools (#11 in the dashboard): the fleet's drives and pools worst first with their verdicts and the
// reasons for them, the same per device on its page, and SMART self-tests and scrubs for operate tokens, confirmed
// first and followed live as durable operations.
import { h, api, can, bytes, pct, ago, badge, confirmAction, errorBox } from './lib.js';
import { opView } from './pages.js';

const DONE = ['succeeded', 'failed', 'cancelled'];
const RANK = { failing: 0, warning: 1, unknown: 2, ok: 3 };

/** opTracker shows operations in el and follows each to its end (live updates, and a fetch a second). */
function opTracker(el, onDone) {
  const tracked = new Map();
  let timers = [];
  function track(op) {
    const view = opView(op);
    const old = tracked.get(op.id);
    if (old) old.replaceWith(view); else el.prepend(view);
    tracked.set(op.id, view);
    if (!DONE.includes(op.state)) {
      timers.push(setTimeout(async () => { try { track(await api('GET', `operations/${op.id}`)); } catch { /* the next update retries */ } }, 1000));
    } else if (!old || old.dataset.state !== op.state) {
      onDone?.(op);
    }
  }
  return {
    track,
    onUpdate(m) {
      if (m.topic === 'operations' && m.data?.id && tracked.has(m.data.id)) api('GET', `operations/${m.data.id}`).then(track, () => {});
    },
    dispose() { timers.forEach(clearTimeout); timers = []; },
  };
}

function reasons(list) {
  return list?.length ? h('ul', { class: 'reasons' }, list.map((r) => h('li', {}, r))) : null;
}

function hours(n) {
  if (n === null || n === undefined) return '–';
  return n >= 24 * 365 ? `${(n / 24 / 365).toFixed(1)} y` : n >= 48 ? `${Math.round(n / 24)} d` : `${n} h`;
}

/** driveTable lists drives worst first; onTest(drive, type) is given to operate tokens. */
function driveTable(list, withDevice, onTest) {
  const rows = [...list].sort((a, b) => (RANK[a.health] ?? 2) - (RANK[b.health] ?? 2) || (a.device_name || '').localeCompare(b.device_name || '') ||
    a.device_path.localeCompare(b.device_path));
  return h('table', { id: 'drives-table' }, h('caption', { class: 'sr' }, 'Drives, worst first'),
    h('thead', {}, h('tr', {}, [withDevice ? 'Device' : null, 'Drive', 'Serial', 'Capacity', 'Temp.', 'Powered on', 'Verdict', 'Read', onTest ? 'Self-test' : null]
      .filter(Boolean).map((t) => h('th', { scope: 'col', class: ['Capacity', 'Temp.', 'Powered on'].includes(t) ? 'num' : null }, t)))),
    h('tbody', {}, rows.map((d) => h('tr', { 'data-serial': d.serial, 'data-health': d.health, 'data-device': d.device_id },
      withDevice ? h('td', {}, h('a', { href: `#/devices/${d.device_id}` }, d.device_name)) : null,
      h('td', {}, h('span', { class: 'mono' }, d.device_path), d.model ? h('div', { class: 'muted' }, d.model) : null),
      h('td', { class: 'mono' }, d.serial),
      h('td', { class: 'num' }, d.capacity_bytes ? bytes(d.capacity_bytes) : '–'),
      h('td', { class: 'num nowrap' }, d.temperature_c === null || d.temperature_c === undefined ? '–' : `${d.temperature_c} °C`),
      h('td', { class: 'num nowrap' }, hours(d.power_on_hours)),
      h('td', { 'data-verdict': d.health }, badge(d.health), d.state && d.state !== 'ok' ? h('span', { class: 'muted' }, ` ${d.state}`) : null, reasons(d.reasons)),
      h('td', {}, d.read_at ? ago(d.read_at) : h('span', { class: 'muted' }, 'never read')),
      onTest ? h('td', { class: 'row' }, d.read_at ? ['short', 'long'].map((t) => h('button', { type: 'button', class: t === 'long' ? 'secondary' : null,
        'data-selftest': t, 'aria-label': `${t === 'short' ? 'Short test' : 'Long test'} of ${d.device_path} (${d.serial})${withDevice ? ' on ' + d.device_name : ''}`,
        onclick: () => onTest(d, t) }, t === 'short' ? 'Short test' : 'Long test')) : h('span', { class: 'muted' }, 'unreadable')) : null))));
}

/** poolTable lists pools worst first; onScrub(pool) is given to operate tokens. */
function poolTable(list, withDevice, onScrub) {
  const rows = [...list].sort((a, b) => (RANK[a.health] ?? 2) - (RANK[b.health] ?? 2) || (a.device_name || '').localeCompare(b.device_name || '') ||
    a.name.localeCompare(b.name));
  return h('table', { id: 'pools-table' }, h('caption', { class: 'sr' }, 'ZFS pools, worst first'),
    h('thead', {}, h('tr', {}, [withDevice ? 'Device' : null, 'Pool', 'State', 'Verdict', 'Size', 'Used', 'Fragmentation', 'Errors (read/write/checksum)', 'Last scrub', onScrub ? 'Scrub' : null]
      .filter(Boolean).map((t) => h('th', { scope: 'col', class: ['Size', 'Used', 'Fragmentation'].includes(t) ? 'num' : null }, t)))),
    h('tbody', {}, rows.map((p) => h('tr', { 'data-pool': p.name, 'data-state': p.state, 'data-health': p.health, 'data-device': p.device_id },
      withDevice ? h('td', {}, h('a', { href: `#/devices/${p.device_id}` }, p.device_name)) : null,
      h('td', { class: 'mono' }, p.name),
      h('td', {}, h('span', { class: 'badge ' + (p.state === 'ONLINE' ? 's-ok' : p.state === 'DEGRADED' ? 's-warning' : 's-failed') }, p.state || 'unknown')),
      h('td', { 'data-verdict': p.health }, badge(p.health), reasons(p.reasons)),
      h('td', { class: 'num nowrap' }, bytes(p.size_bytes)),
      h('td', { class: 'num nowrap' }, bytes(p.alloc_bytes), p.capacity_percent !== null && p.capacity_percent !== undefined ? h('div', { class: 'muted' }, pct(p.capacity_percent)) : null),
      h('td', { class: 'num' }, pct(p.fragmentation_percent)),
      h('td', {}, `${p.read_errors} / ${p.write_errors} / ${p.checksum_errors}`, p.data_errors ? h('div', { class: 'error' }, `${p.data_errors} data errors`) : null),
      h('td', {}, p.last_scrub_end ? ago(p.last_scrub_end) : h('span', { class: 'muted' }, 'none recorded')),
      onScrub ? h('td', {}, h('button', { type: 'button', 'data-scrub': p.name, 'aria-label': `Scrub ${p.name}${withDevice ? ' on ' + p.device_name : ''}`,
        onclick: () => onScrub(p) }, 'Scrub')) : null))));
}

/** storageActions confirms and starts self-tests and scrubs, showing each operation in ops. */
function storageActions(ops, say, onDone) {
  const tracker = opTracker(ops, onDone);
  async function start(path, body, what) {
    try {
      ops.querySelector(':scope > p.muted')?.remove();
      tracker.track(await api('POST', path, body));
      say(`${what}: started; its progress follows below.`);
    } catch (err) { say(`${what}: ${err.message}`, 'error'); }
  }
  return {
    tracker,
    async selfTest(d, type) {
      const what = `${type === 'long' ? 'Long' : 'Short'} self-test of ${d.device_path} (${d.serial})`;
      if (!await confirmAction(`${what}?`, `This runs a ${type} SMART self-test on ${d.device_path} (${d.model || 'drive'}, serial ${d.serial}) of ` +
        `${d.device_name}. The drive stays in use; a ${type === 'long' ? 'long test takes hours' : 'short test takes about two minutes'} and slows its I/O meanwhile.`, 'Start test')) return;
      await start(`devices/${d.device_id}/drives/${encodeURIComponent(d.serial)}/actions`, { action: 'selftest', type }, what);
    },
    async scrub(p) {
      const what = `Scrub of ${p.name} on ${p.device_name}`;
      if (!await confirmAction(`Scrub ${p.name}?`, `This scrubs the pool ${p.name} on ${p.device_name}: every block is read and checked, which slows ` +
        'the pool\'s I/O until it finishes (hours on a large pool).', 'Start scrub')) return;
      await start(`devices/${p.device_id}/zfs/pools/${encodeURIComponent(p.name)}/actions`, { action: 'scrub' }, what);
    },
  };
}

function trailing(fn, ms) {
  let t = null;
  const f = () => { if (!t) t = setTimeout(() => { t = null; fn(); }, ms); };
  f.cancel = () => { clearTimeout(t); t = null; };
  return f;
}

function countsText(counts, noun, order) {
  const total = Object.values(counts || {}).reduce((a, b) => a + b, 0);
  const parts = order.filter((k) => counts?.[k]).map((k) => `${counts[k]} ${k}`);
  return `${total} ${noun}${total === 1 ? '' : 's'}${parts.length ? ': ' + parts.join(', ') : ''}.`;
}

/** fleetPage is the shared frame of the Drives and Pools pages. */
function fleetPage(title, load, draw, emptyText) {
  return async (root) => {
    const summary = h('p', { class: 'muted', id: 'storage-summary' });
    const filters = h('div', { class: 'filters', role: 'search' });
    const body = h('div', { class: 'table-wrap', tabindex: '0', id: 'storage-list' });
    const msg = h('p', { role: 'status', class: 'muted', id: 'storage-message' });
    const ops = h('div', { id: 'storage-ops', 'aria-live': 'polite' });
    root.append(h('h1', {}, title), summary, filters, msg, body);
    if (can('operate')) {
      ops.append(h('p', { class: 'muted' }, `None started from this page yet: ${title === 'Drives' ? 'a self-test' : 'a scrub'} started here shows its progress here.`));
      root.append(h('h2', {}, 'Operations'), ops);
    }
    const say = (text, cls = 'muted') => { msg.className = cls; msg.textContent = text; };
    const state = { q: '', health: '' };
    const actions = storageActions(ops, say, () => refresh());
    let data = null;
    filters.append(
      h('label', {}, 'Device', h('input', { type: 'search', id: 'storage-q', oninput: (e) => { state.q = e.target.value.toLowerCase(); show(); } })),
      h('label', {}, 'Verdict', h('select', { id: 'storage-health', onchange: (e) => { state.health = e.target.value; show(); } },
        ['', 'failing', 'warning', 'unknown', 'ok'].map((x) => h('option', { value: x }, x || 'All verdicts')))));
    function show() {
      if (!data) return;
      const rows = data.items.filter((x) => (!state.q || (x.device_name || '').toLowerCase().includes(state.q)) && (!state.health || x.health === state.health));
      summary.textContent = data.summary;
      body.replaceChildren(!data.items.length ? h('div', { class: 'empty' }, emptyText)
        : rows.length ? draw(rows, actions) : h('div', { class: 'empty' }, 'Nothing matches these filters.'));
    }
    async function refresh() {
      try { data = await load(); show(); } catch (err) { if (!data) body.replaceChildren(errorBox(err, title.toLowerCase())); }
    }
    const later = trailing(refresh, 1500);
    await refresh();
    return {
      refresh,
      onUpdate(m) { actions.tracker.onUpdate(m); if (m.topic?.endsWith('.storage')) later(); },
      dispose() { later.cancel(); actions.tracker.dispose(); },
    };
  };
}

/** drivesPage is the fleet's drives with their verdicts (GET /drives). */
export const drivesPage = fleetPage('Drives', async () => {
  const r = await api('GET', 'drives');
  return { items: r.drives || [], summary: countsText(r.counts, 'drive', ['failing', 'warning', 'unknown', 'ok']) };
}, (rows, a) => driveTable(rows, true, can('operate') ? a.selfTest : null),
'No drives reported yet. Drives appear after a device\'s slow-cadence collection reads them with smartctl (install smartmontools on the device ' +
  'and let its monitoring user run it; see the README).');

/** poolsPage is the fleet's ZFS pools with their verdicts (GET /zfs/pools). */
export const poolsPage = fleetPage('Pools', async () => {
  const r = await api('GET', 'zfs/pools');
  const pools = r.pools || [];
  const byHealth = {};
  for (const p of pools) byHealth[p.health] = (byHealth[p.health] || 0) + 1;
  return { items: pools, summary: countsText(byHealth, 'pool', ['failing', 'warning', 'unknown', 'ok']) };
}, (rows, a) => poolTable(rows, true, can('operate') ? a.scrub : null),
'No ZFS pools reported yet. Pools appear after a device\'s slow-cadence collection reads them with zpool (on devices with ZFS).');

/** deviceStorage is the drives and pools section of a device page; load() refetches, onUpdate follows live updates. */
export function deviceStorage(id) {
  const el = h('section', { id: 'device-storage', 'aria-labelledby': 'storage-h' });
  const msg = h('p', { role: 'status', class: 'muted', id: 'storage-message' });
  const ops = h('div', { id: 'storage-ops', 'aria-live': 'polite' });
  const say = (text, cls = 'muted') => { msg.className = cls; msg.textContent = text; };
  const actions = storageActions(ops, say, () => load());
  const note = (coll, noun) => {
    if (!coll) return `${noun}: not collected yet.`;
    if (!coll.ok) return `${noun}: the last collection failed ${coll.error ? '— ' + coll.error : ''}.`;
    return `${noun}: ${coll.summary || 'none'}.`;
  };
  let calls = 0;
  async function load() {
    const mine = ++calls; // an older, slower answer must not replace a newer one
    try {
      const [dr, po] = await Promise.all([api('GET', `devices/${id}/drives`), api('GET', `devices/${id}/zfs/pools`)]);
      if (mine !== calls) return;
      const drives = dr.drives || [], pools = po.pools || [];
      const op = can('operate');
      // h() flattens nested children, replaceChildren does not: the parts are built as one list.
      el.replaceChildren(...[h('h2', { id: 'storage-h' }, 'Drives and pools'), msg,
        drives.length ? [h('h3', {}, 'Drives'), h('div', { class: 'table-wrap', tabindex: '0' }, driveTable(drives, false, op ? actions.selfTest : null))]
          : h('p', { class: 'muted', id: 'drives-note' }, note(dr.collection, 'Drives')),
        pools.length ? [h('h3', {}, 'ZFS pools'), h('div', { class: 'table-wrap', tabindex: '0' }, poolTable(pools, false, op ? actions.scrub : null))]
          : h('p', { class: 'muted', id: 'pools-note' }, note(po.collection, 'ZFS pools')),
        ops].flat());
    } catch (err) { if (mine === calls) el.replaceChildren(h('h2', { id: 'storage-h' }, 'Drives and pools'), errorBox(err, 'drives and pools')); }
  }
  const later = trailing(load, 1500);
  return {
    el, load,
    onUpdate(m) { actions.tracker.onUpdate(m); if (m.topic === `device.${id}.storage`) later(); },
    dispose() { later.cancel(); actions.tracker.dispose(); },
  };
}
