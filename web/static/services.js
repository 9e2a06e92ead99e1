// Services (#12 in the dashboard): a device's failed and watched systemd units with their actions and the live
// progress of each operation, its top processes, and the fleet's units that are not ok.
import { h, api, all, can, bytes, pct, ago, badge, confirmAction, errorBox } from './lib.js';
import { opView } from './pages.js';

const DONE = ['succeeded', 'failed', 'cancelled'];

/** deviceLinks is the row of a device's own pages, shown under each of their headings. */
export function deviceLinks(id, here) {
  return h('nav', { class: 'row sub', 'aria-label': 'Device pages' }, [['', 'Overview'], ['/services', 'Services'], ['/logs', 'Logs']]
    .map(([p, l]) => h('a', { href: `#/devices/${id}${p}`, 'aria-current': p === here ? 'page' : null }, l)));
}

function trailing(fn, ms) {
  let t = null;
  const f = () => { if (!t) t = setTimeout(() => { t = null; fn(); }, ms); };
  f.cancel = () => { clearTimeout(t); t = null; };
  return f;
}

/** serviceTable lists units worst first; onAction(unit, action) is given only to operate tokens. */
function serviceTable(list, withDevice, onAction) {
  return h('table', { id: 'services-table' }, h('caption', { class: 'sr' }, 'Systemd units'),
    h('thead', {}, h('tr', {}, [withDevice ? 'Device' : null, 'Unit', 'State', 'Verdict', 'Since', 'Restarts', 'Main PID', 'Memory', 'Watched',
      onAction ? 'Actions' : null].filter((t) => t).map((t, i) => h('th', { scope: 'col', class: ['Restarts', 'Main PID', 'Memory'].includes(t) ? 'num' : null, 'data-i': i }, t)))),
    h('tbody', {}, list.map((s) => h('tr', { 'data-unit': s.unit, 'data-active': s.active_state, 'data-level': s.level },
      withDevice ? h('td', {}, h('a', { href: `#/devices/${s.device_id}/services` }, s.device_name)) : null,
      h('td', {}, h('span', { class: 'mono' }, s.unit), s.description ? h('div', { class: 'muted' }, s.description) : null),
      h('td', {}, badge(s.active_state), s.sub_state ? h('span', { class: 'muted' }, ` ${s.sub_state}`) : null,
        s.load_state && s.load_state !== 'loaded' ? h('div', { class: 'muted' }, s.load_state) : null),
      h('td', {}, badge(s.level), s.reason ? h('div', { class: 'muted' }, s.reason) : null),
      h('td', {}, s.active_since ? ago(s.active_since) : ''),
      h('td', { class: 'num' }, s.n_restarts ?? '–'), h('td', { class: 'num' }, s.main_pid || '–'), h('td', { class: 'num' }, bytes(s.memory_bytes)),
      h('td', {}, s.watched ? 'yes' : 'no'),
      onAction ? h('td', { class: 'row' }, (s.active_state === 'active' ? ['restart', 'reload', 'stop'] : ['start', 'restart']).map((a) => h('button', { type: 'button', class: a === 'stop' ? 'secondary' : null,
        'data-action': a, 'aria-label': `${a} ${s.unit}`, onclick: () => onAction(s.unit, a) }, a))) : null))));
}

/** deviceServices is a device's units, their actions and operations, and its top processes. */
export async function deviceServices(root, id) {
  let dev;
  try { dev = await api('GET', `devices/${id}`); } catch (err) { root.append(h('h1', {}, 'Services'), errorBox(err, 'this device')); return {}; }
  const state = h('p', { id: 'systemd-state', class: 'muted' });
  const body = h('div', { class: 'table-wrap', tabindex: '0', id: 'services' });
  const ops = h('div', { id: 'service-ops', 'aria-live': 'polite' });
  const msg = h('p', { role: 'status', id: 'services-message', class: 'muted' });
  const procs = h('div', { class: 'table-wrap', tabindex: '0', id: 'processes' });
  const sortSel = h('select', { id: 'proc-sort' }, h('option', { value: 'cpu' }, 'CPU'), h('option', { value: 'memory' }, 'memory'));
  root.append(h('h1', {}, `Services on ${dev.name}`), deviceLinks(id, '/services'), state, msg, body,
    h('h2', {}, 'Service operations'), ops,
    h('div', { class: 'row' }, h('h2', {}, 'Top processes'),
      h('form', { class: 'row', id: 'proc-form', onsubmit: (e) => { e.preventDefault(); readProcesses(); } },
        h('label', { for: 'proc-sort' }, 'Sort by'), sortSel, h('button', { type: 'submit' }, 'Read now'))),
    procs);
  const tracked = new Map();
  let timers = [];

  async function load() {
    try {
      const v = await api('GET', `devices/${id}/services`);
      const sd = v.systemd;
      state.replaceChildren(!sd ? 'Not collected yet: the first inventory collection reads the units (every few minutes, or Poll now on the device page).'
        : !sd.available ? 'This device has no systemd (no /run/systemd/system), so there are no units to show.'
          : h('span', {}, `${sd.failed_count} failed ${sd.failed_count === 1 ? 'unit' : 'units'}, ${v.watched_units.length} watched (`,
            v.watched_units.join(', ') || 'none', '). Collected ', ago(sd.collected_at), '.', sd.truncated ? ' The list was cut: the device has more failed units than shown.' : ''));
      body.replaceChildren(v.items.length ? serviceTable(v.items, false, can('operate') ? act : null)
        : h('div', { class: 'empty' }, sd?.available ? 'No failed units and no watched units. An admin names units to watch with PUT /api/v1/devices/{id}/watched-units.' : 'No units.'));
    } catch (err) { body.replaceChildren(errorBox(err, 'services')); }
  }

  async function act(unit, action) {
    if (action === 'stop' && !await confirmAction(`Stop ${unit}?`, `This stops the unit ${unit} on ${dev.name}; whatever it serves is down until it is started again.`, 'Stop')) return;
    msg.className = 'muted';
    msg.textContent = `${action} ${unit}…`;
    try {
      track(await api('POST', `devices/${id}/services/${encodeURIComponent(unit)}/actions`, { action }));
      msg.textContent = `${action} ${unit} started; its progress is under Service operations.`;
    } catch (err) { msg.className = 'error'; msg.textContent = `${action} ${unit}: ${err.message}`; }
  }

  function track(op) {
    const view = opView(op);
    const el = tracked.get(op.id);
    ops.querySelector(':scope > p.muted')?.remove();
    if (el) el.replaceWith(view); else ops.prepend(view);
    tracked.set(op.id, view);
    if (!DONE.includes(op.state)) {
      timers.push(setTimeout(async () => { try { track(await api('GET', `operations/${op.id}`)); } catch { /* the next update retries */ } }, 1000));
    } else if (el && el.dataset.state !== op.state) {
      // The table is the last inventory collection's; the operation's own verify step says what the unit is now.
      msg.className = op.state === 'succeeded' ? 'muted' : 'error';
      msg.textContent = `${op.action} ${op.target}: ${op.state}. The units above are as of the last collection (Poll now on the device page collects again).`;
      load();
    }
  }

  async function loadOps() {
    try {
      const list = (await api('GET', `operations?device_id=${id}&limit=20`)).items.filter((o) => o.kind === 'service' || String(o.workflow_id || '').includes('/service/'));
      for (const op of list.slice(0, 10).reverse()) track(op);
      if (!tracked.size) ops.replaceChildren(h('p', { class: 'muted' }, 'No service operations on this device yet.'));
    } catch (err) { ops.replaceChildren(errorBox(err, 'operations')); }
  }

  function procTable(items) {
    return h('table', { id: 'processes-table' }, h('caption', { class: 'sr' }, 'Top processes'),
      h('thead', {}, h('tr', {}, ['PID', 'User', 'Command', 'CPU', 'Memory', 'State', 'Started'].map((t, i) => h('th', { scope: 'col', class: [0, 3, 4].includes(i) ? 'num' : null }, t)))),
      h('tbody', {}, items.map((p) => h('tr', {}, h('td', { class: 'num' }, p.pid), h('td', {}, p.user || ''),
        h('td', {}, h('span', { class: 'mono' }, p.command), p.args ? h('div', { class: 'muted mono args' }, p.args, p.args_cut ? ' …' : '') : null),
        h('td', { class: 'num' }, pct(p.cpu_percent)), h('td', { class: 'num' }, bytes(p.rss_bytes)), h('td', { class: 'mono' }, p.state),
        h('td', {}, p.started ? ago(p.started) : '')))));
  }

  async function loadSnapshot() {
    try {
      const s = await api('GET', `devices/${id}/processes/snapshot`);
      const items = sortSel.value === 'memory' ? s.by_memory : s.by_cpu;
      procs.replaceChildren(h('p', { class: 'muted' }, 'As of the last inventory collection, ', ago(s.taken_at), ` (${s.source}). Read now asks the device.`), procTable(items));
    } catch (err) {
      procs.replaceChildren(err.status === 404 ? h('p', { class: 'muted' }, 'No snapshot yet; Read now asks the device.') : errorBox(err, 'processes'));
    }
  }

  async function readProcesses() {
    procs.setAttribute('aria-busy', 'true');
    procs.replaceChildren(h('p', { class: 'muted' }, 'Reading the processes from the device…'));
    try {
      const r = await api('GET', `devices/${id}/processes?sort=${sortSel.value}`);
      procs.replaceChildren(h('p', { class: 'muted', id: 'processes-source' }, `Read just now (${r.source}), by ${r.sort}.`, r.truncated ? ' The listing was cut short.' : ''), procTable(r.items));
    } catch (err) { procs.replaceChildren(errorBox(err, 'processes')); }
    procs.removeAttribute('aria-busy');
  }

  await Promise.all([load(), loadOps(), loadSnapshot()]);
  const reload = trailing(load, 1000);
  return {
    refresh: () => Promise.all([load(), loadOps()]),
    onUpdate(m) {
      if (m.topic === 'operations') { const op = m.data; if (op?.id && tracked.has(op.id)) api('GET', `operations/${op.id}`).then(track, () => {}); return; }
      if (m.topic === `device.${id}.services`) reload();
    },
    dispose() { reload.cancel(); timers.forEach(clearTimeout); timers = []; },
  };
}

/** fleetServices lists the units that are not ok on every device (each device's services, read in turn). */
export async function fleetServices(root) {
  const body = h('div', { class: 'table-wrap', tabindex: '0' });
  const summary = h('p', { class: 'muted', id: 'services-summary' });
  root.append(h('h1', {}, 'Services'), h('p', { class: 'muted' }, 'Failed and watched systemd units that are not ok, worst first. ' +
    'Each device\'s own page (Services under the device) lists all its watched units with their actions and top processes.'), summary, body);
  async function load() {
    try {
      const devices = (await all('devices', 500)).filter((d) => d.enabled !== false);
      const rows = [], none = [], pending = [];
      let next = 0;
      // A few at a time: one request per device.
      await Promise.all(Array.from({ length: 6 }, async () => {
        while (next < devices.length) {
          const d = devices[next++];
          try {
            const v = await api('GET', `devices/${d.id}/services`);
            if (!v.systemd) pending.push(d); else if (!v.systemd.available) none.push(d);
            for (const s of v.items) if (s.level !== 'ok') rows.push({ ...s, device_id: d.id, device_name: d.name });
          } catch { pending.push(d); }
        }
      }));
      const rank = { critical: 0, warning: 1 };
      rows.sort((a, b) => (rank[a.level] ?? 2) - (rank[b.level] ?? 2) || a.device_name.localeCompare(b.device_name) || a.unit.localeCompare(b.unit));
      summary.textContent = `${devices.length} devices: ${rows.length} units not ok; ${none.length} without systemd; ${pending.length} not collected yet.`;
      body.replaceChildren(rows.length ? serviceTable(rows, true, null) : h('div', { class: 'empty' }, devices.length ? 'Every failed or watched unit is ok.' : 'No devices yet.'));
    } catch (err) { body.replaceChildren(errorBox(err, 'services')); }
  }
  await load();
  const reload = trailing(load, 5000);
  return { refresh: load, onUpdate: (m) => { if (m.topic?.endsWith('.services')) reload(); }, dispose: () => reload.cancel() };
}
