// The dashboard's pages. Each render(root, ...params) fills root and returns {refresh, onUpdate, dispose}:
// refresh refetches everything (after the live stream was lost), onUpdate reacts to a live message.
import { h, api, all, can, pct, num, ago, badge, sparkline, chart, confirmAction, errorBox } from './lib.js';
import { deviceServices, fleetServices } from './services.js';
import { logsIndex, deviceLogs } from './logs.js';
import { drivesPage, poolsPage } from './storage.js';
import { rulesPage, channelsPage, windowsPage, schedulesPage } from './admin.js';
import { device } from './device.js';

/** throttle runs fn at most once per ms, trailing, so a burst of live updates costs one refetch. */
export function throttle(fn, ms) {
  let timer = null, pending = false, last = 0;
  const run = () => { timer = null; last = Date.now(); pending = false; fn(); };
  const t = () => {
    if (timer) { pending = true; return; }
    timer = setTimeout(run, Math.max(0, ms - (Date.now() - last)));
  };
  t.cancel = () => { clearTimeout(timer); timer = null; };
  return t;
}

/**
 * newest numbers the calls of a loader so that each can tell, once its answer is in, whether a newer call started
 * meanwhile: an older, slower answer drawn after a newer one would put a stale state back on the page (a blocked
 * device shown online, its pending host key missing) until the next change, which for a blocked device never comes.
 */
export function newest() {
  let n = 0;
  return () => { const mine = ++n; return () => mine !== n; };
}

export function deviceOf(topic) { return topic?.startsWith('device.') ? topic.split('.')[1] : null; }

function note(root, text, cls = 'muted') { const p = h('p', { class: cls, role: cls === 'error' ? 'alert' : null }, text); root.append(p); return p; }

// Recent CPU figures per device, kept across page changes for the fleet sparklines.
const cpuHistory = new Map();
function remember(id, at, value) {
  const hist = cpuHistory.get(id) || [];
  if (value === null || value === undefined) return hist;
  if (!hist.length || hist[hist.length - 1].at !== at) hist.push({ at, value });
  while (hist.length > 60) hist.shift();
  cpuHistory.set(id, hist);
  return hist;
}

// ---------------------------------------------------------------------------------------------------------- fleet

async function fleet(root) {
  const state = { q: '', tag: '', status: '', sort: 'name' };
  const summary = h('p', { class: 'muted', id: 'fleet-summary' });
  const body = h('div', { class: 'table-wrap', tabindex: '0' });
  const tagSel = h('select', { id: 'f-tag', onchange: (e) => { state.tag = e.target.value; draw(); } }, h('option', { value: '' }, 'All tags'));
  root.append(h('h1', {}, 'Fleet'), summary,
    h('div', { class: 'filters', role: 'search' },
      h('label', {}, 'Search', h('input', { id: 'f-q', type: 'search', placeholder: 'device name', oninput: (e) => { state.q = e.target.value.toLowerCase(); draw(); } })),
      h('label', {}, 'Tag', tagSel),
      h('label', {}, 'Status', h('select', { id: 'f-status', onchange: (e) => { state.status = e.target.value; draw(); } },
        ['', 'online', 'offline', 'blocked', 'unknown'].map((s) => h('option', { value: s }, s || 'All statuses')))),
      h('label', {}, 'Sort by', h('select', { id: 'f-sort', onchange: (e) => { state.sort = e.target.value; draw(); } },
        [['name', 'Name'], ['status', 'Status'], ['cpu', 'CPU'], ['mem', 'Memory'], ['disk', 'Disk'], ['alerts', 'Alerts']]
          .map(([v, l]) => h('option', { value: v }, l))))),
    can('admin') ? addDeviceForm() : null,
    body);
  let data = null;
  let seeded = false;

  async function load() {
    try {
      const [devices, fig, containers, alerts] = await Promise.all([all('devices'), api('GET', 'fleet/summary'),
        all('containers', 20000), all('alerts', 2000)]);
      const figs = new Map(fig.devices.map((f) => [f.device_id, f]));
      const counts = new Map(), firing = new Map();
      for (const c of containers) {
        const m = counts.get(c.device_id) || {};
        m[c.state] = (m[c.state] || 0) + 1;
        counts.set(c.device_id, m);
      }
      for (const a of alerts) if (a.state === 'firing') firing.set(a.device_id, (firing.get(a.device_id) || 0) + 1);
      for (const d of devices) { const f = figs.get(d.id); if (f) remember(d.id, f.last_seen, f.cpu_percent); }
      data = { devices, figs, counts, firing };
      const tags = [...new Set(devices.flatMap((d) => d.tags || []))].sort();
      const keep = tagSel.value;
      tagSel.replaceChildren(h('option', { value: '' }, 'All tags'), ...tags.map((t) => h('option', { value: t }, t)));
      tagSel.value = tags.includes(keep) ? keep : '';
      if (!seeded) { seeded = true; seed(devices.slice(0, 50)); }
      draw();
    } catch (err) {
      // With figures already on screen, keep them (the stream banner says they may be stale) rather than blank the page.
      if (!data) body.replaceChildren(errorBox(err, 'the fleet'));
    }
  }

  // Sparklines start from the last hour of CPU samples for the first devices; live updates extend them.
  async function seed(devices) {
    await Promise.all(devices.map(async (d) => {
      if ((cpuHistory.get(d.id) || []).length > 1) return;
      try {
        const m = await api('GET', `devices/${d.id}/metrics?metric=cpu&from=1h&step=1m`);
        const s = m.series.find((x) => x.name === 'usage_percent');
        for (const p of s?.points || []) remember(d.id, p.time, p.avg);
      } catch { /* the sparkline starts empty */ }
    }));
    draw();
  }

  const rowsById = new Map(); // the rows on screen, so a live update replaces one row, not the table

  function drawSummary() {
    const { devices, firing } = data;
    const byStatus = { online: 0, offline: 0, blocked: 0, unknown: 0 };
    for (const d of devices) byStatus[d.status] = (byStatus[d.status] || 0) + 1;
    summary.textContent = `${devices.length} devices: ${byStatus.online} online, ${byStatus.offline} offline, ` +
      `${byStatus.blocked} blocked, ${byStatus.unknown} unknown. ${[...firing.values()].reduce((a, b) => a + b, 0)} alerts firing.`;
  }

  function row(d) {
    const { figs, counts, firing } = data;
    const f = figs.get(d.id) || {};
    const c = counts.get(d.id) || {};
    const total = Object.values(c).reduce((a, b) => a + b, 0);
    const hist = (cpuHistory.get(d.id) || []).map((p) => p.value);
    return h('tr', { 'data-device': d.id, 'data-status': d.status },
      h('td', {}, h('a', { href: `#/devices/${d.id}` }, d.name), ' ', (d.tags || []).map((t) => h('span', { class: 'tag' }, t))),
      h('td', {}, badge(d.status), d.status_reason ? h('div', { class: 'muted' }, d.status_reason) : null),
      h('td', { class: 'num' }, pct(f.cpu_percent)),
      h('td', {}, sparkline(hist, `CPU of ${d.name}, last ${hist.length} samples`)),
      h('td', { class: 'num' }, pct(f.memory_used_percent)),
      h('td', { class: 'num', title: f.disk_max_mount || '' }, pct(f.disk_max_used_percent)),
      h('td', { class: 'num' }, num(f.load1)),
      h('td', {}, total ? `${c.running || 0} running / ${total}` : h('span', { class: 'muted' }, 'none'),
        c.exited ? h('span', { class: 'muted' }, ` (${c.exited} exited)`) : null),
      h('td', {}, firing.get(d.id) ? h('a', { href: '#/alerts', class: 'badge s-firing' }, `${firing.get(d.id)} firing`) : ''),
      h('td', {}, ago(d.last_seen)));
  }

  function draw() {
    if (!data) return;
    const { devices, figs, firing } = data;
    drawSummary();
    let rows = devices.filter((d) => (!state.q || d.name.toLowerCase().includes(state.q)) &&
      (!state.tag || (d.tags || []).includes(state.tag)) && (!state.status || d.status === state.status));
    const key = {
      name: (d) => d.name, status: (d) => d.status, cpu: (d) => -(figs.get(d.id)?.cpu_percent ?? -1),
      mem: (d) => -(figs.get(d.id)?.memory_used_percent ?? -1), disk: (d) => -(figs.get(d.id)?.disk_max_used_percent ?? -1),
      alerts: (d) => -(firing.get(d.id) || 0),
    }[state.sort];
    rows = rows.sort((a, b) => { const x = key(a), y = key(b); return x < y ? -1 : x > y ? 1 : a.name.localeCompare(b.name); });
    rowsById.clear();
    if (!devices.length) {
      body.replaceChildren(h('div', { class: 'empty' }, 'No devices yet. An admin adds one with POST /api/v1/devices ' +
        '(see the README quick start); it appears here as soon as it is created.'));
      return;
    }
    if (!rows.length) { body.replaceChildren(h('div', { class: 'empty' }, 'No device matches these filters.')); return; }
    body.replaceChildren(h('table', { id: 'fleet-table', class: 'fleet' },
      h('caption', { class: 'sr' }, 'Devices'),
      h('thead', {}, h('tr', {}, ['Device', 'Status', 'CPU', 'CPU history', 'Memory', 'Disk', 'Load', 'Containers', 'Alerts', 'Last seen']
        .map((t, i) => h('th', { scope: 'col', class: i >= 2 && i <= 6 ? 'num' : null }, i === 3 ? h('span', { class: 'sr' }, t) : t)))),
      h('tbody', {}, rows.map((d) => { const r = row(d); rowsById.set(d.id, r); return r; }))));
    // The first full table, for the browser benchmark (docs/performance-dashboard.md).
    if (!performance.getEntriesByName('fleet:drawn').length) performance.mark('fleet:drawn');
  }

  // Live figures and statuses are applied from the messages themselves (the fleet can be 1,000 devices polled every
  // few seconds): a figure replaces its device's row, once a second at most; a status change redraws (it can move
  // rows and change the counts). Container and event changes refetch, at most every 5 s. With the table sorted by a
  // figure, the order is refreshed every 10 s rather than on every update.
  const dirty = new Set();
  const flush = throttle(() => {
    for (const id of dirty) {
      const old = rowsById.get(id);
      const dev = data?.devices.find((x) => x.id === id);
      if (!old || !dev || !old.isConnected) continue;
      // Only the figures' cells change: rewriting their text costs far less layout than a new row.
      const f = data.figs.get(id) || {};
      const cells = old.children;
      cells[2].textContent = pct(f.cpu_percent);
      const hist = (cpuHistory.get(id) || []).map((p) => p.value);
      cells[3].replaceChildren(sparkline(hist, `CPU of ${dev.name}, last ${hist.length} samples`));
      cells[4].textContent = pct(f.memory_used_percent);
      cells[5].textContent = pct(f.disk_max_used_percent);
      cells[6].textContent = num(f.load1);
      cells[9].replaceChildren(ago(dev.last_seen));
    }
    dirty.clear();
  }, 1000);
  const redraw = throttle(draw, 1000);
  const resort = throttle(draw, 10000);
  const refresh = throttle(load, 5000);
  function onUpdate(m) {
    const id = deviceOf(m.topic);
    const dev = id && data?.devices.find((x) => x.id === id);
    if (dev && m.topic.endsWith('.metrics') && m.data) {
      const f = data.figs.get(id) || { device_id: id };
      for (const k of ['cpu_percent', 'memory_used_percent', 'load1', 'disk_max_used_percent']) if (k in m.data) f[k] = m.data[k];
      f.last_seen = dev.last_seen = m.data.time;
      data.figs.set(id, f);
      remember(id, m.data.time, m.data.cpu_percent);
      dirty.add(id);
      flush();
      if (state.sort !== 'name' && state.sort !== 'status') resort();
    } else if (dev && m.topic.endsWith('.status') && m.data?.status) {
      dev.status = m.data.status;
      dev.status_reason = m.data.reason || '';
      redraw();
    } else {
      refresh();
    }
  }
  await load();
  return { refresh: load, onUpdate, dispose: () => { refresh.cancel(); redraw.cancel(); resort.cancel(); flush.cancel(); } };
}

/** addDeviceForm creates a device (admin); the device page then shows its first contact and host key. */
function addDeviceForm() {
  const err = h('p', { class: 'error', role: 'alert' });
  const field = (name, label, attrs = {}) => h('label', {}, label, h('input', { name, id: 'add-' + name, ...attrs }));
  const form = h('form', { class: 'filters', id: 'add-device', onsubmit: async (e) => {
    e.preventDefault();
    const v = Object.fromEntries(new FormData(form));
    const body = { name: v.name, host: v.host, user: v.user, host_key_policy: v.host_key_policy,
      tags: v.tags.split(',').map((t) => t.trim()).filter(Boolean) };
    if (v.port) body.port = Number(v.port);
    try {
      const dev = await api('POST', 'devices', body);
      location.hash = `#/devices/${dev.id}`;
    } catch (e2) {
      err.textContent = e2.fields ? Object.entries(e2.fields).map(([k, m]) => `${k} ${m}`).join('; ') : e2.message;
    }
  } },
  field('name', 'Name', { required: true }), field('host', 'Host', { required: true }), field('port', 'Port', { type: 'number', min: 1, max: 65535, placeholder: '22' }),
  field('user', 'SSH user', { required: true, value: 'monitor' }), field('tags', 'Tags (comma-separated)'),
  h('label', {}, 'Host key', h('select', { name: 'host_key_policy', id: 'add-host_key_policy' },
    h('option', { value: 'require_approval' }, 'approve on first contact'), h('option', { value: 'trust_first_use' }, 'trust on first use'))),
  h('button', { type: 'submit' }, 'Add device'));
  return h('details', { class: 'card' }, h('summary', { id: 'add-device-summary' }, 'Add a device'),
    h('p', { class: 'muted' }, 'Install the worker\'s key on it first (deploy/device/setup-device.sh, see the README).'), form, err);
}

// --------------------------------------------------------------------------------------------------------- device

// Ranges with the step of their buckets: about 300 per chart, so a 1 y chart reads daily rollups and 1 h raw samples.
export function opView(op) {
  const done = op.steps?.filter((s) => s.state === 'succeeded' || s.state === 'done').length || 0;
  return h('div', { class: 'card op', 'data-op': op.id, 'data-state': op.state },
    h('div', { class: 'row' }, h('strong', {}, `${op.action} ${op.target}`), badge(op.state), ago(op.created_at),
      op.temporal_ui ? h('a', { href: op.temporal_ui, target: '_blank', rel: 'noopener noreferrer' }, 'history in the Temporal UI') : null),
    h('progress', { max: Math.max(op.steps?.length || 0, 1), value: ['succeeded'].includes(op.state) ? Math.max(op.steps?.length || 0, 1) : done,
      'aria-label': `Progress of ${op.action} ${op.target}` }),
    h('ol', { class: 'steps' }, (op.steps || []).map((s) => h('li', {}, badge(s.state), ' ', s.name, s.detail ? h('span', { class: 'muted' }, ` — ${s.detail}`) : null))),
    op.error ? h('p', { class: 'error' }, op.error) : null,
    op.result?.summary ? h('p', {}, op.result.summary) : null);
}

export function eventTable(list) {
  return h('table', {}, h('thead', {}, h('tr', {}, ['When', 'Severity', 'Kind', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, list.map((e) => h('tr', {}, h('td', {}, ago(e.time)), h('td', {}, badge(e.severity)), h('td', { class: 'mono' }, e.kind), h('td', {}, e.message)))));
}

export const DESTRUCTIVE = new Set(['stop', 'restart', 'kill', 'remove']);
const ACTIONS = { running: ['restart', 'stop', 'pause', 'kill'], paused: ['unpause', 'stop'], exited: ['start', 'remove'], created: ['start', 'remove'], dead: ['remove'] };

export function containerTable(list, withDevice, onAction, onLogs) {
  return h('table', { class: 'containers' }, h('thead', {}, h('tr', {}, [withDevice ? 'Device' : null, 'Name', 'Image', 'State', 'Health', 'Status', 'Project', onLogs ? 'Logs' : null, can('operate') ? 'Actions' : null]
    .filter((t) => t !== null).map((t) => h('th', { scope: 'col' }, t)))),
  h('tbody', {}, list.map((c) => h('tr', { 'data-container': c.name, 'data-state': c.state },
    withDevice ? h('td', {}, h('a', { href: `#/devices/${c.device_id}` }, c.device_name)) : null,
    h('td', { class: 'mono' }, c.name), h('td', { class: 'mono' }, c.image), h('td', {}, badge(c.state)),
    h('td', {}, c.health && c.health !== 'none' ? badge(c.health) : ''), h('td', { class: 'muted' }, c.status || ''),
    h('td', {}, c.compose_project || ''),
    onLogs ? h('td', {}, h('button', { type: 'button', class: 'link', 'data-logs': c.name, 'aria-label': `Logs of ${c.name}`, onclick: () => onLogs(c) }, 'Logs')) : null,
    can('operate') ? h('td', { class: 'row' }, (ACTIONS[c.state] || ['start', 'stop']).map((a) => h('button', {
      type: 'button', class: DESTRUCTIVE.has(a) ? 'secondary' : null, 'data-action': a, 'aria-label': `${a} ${c.name}`,
      onclick: () => onAction(c, a) }, a))) : null))));
}

// ------------------------------------------------------------------------------------------------ fleet-wide pages

async function containers(root) {
  const f = { state: '', project: '', device: '', name: '' };
  const body = h('div', { class: 'table-wrap', tabindex: '0' });
  const msg = h('p', { role: 'status', class: 'muted' });
  const input = (key, label) => h('label', {}, label, h('input', { type: 'search', oninput: (e) => { f[key] = e.target.value.toLowerCase(); draw(); } }));
  root.append(h('h1', {}, 'Containers'), h('div', { class: 'filters', role: 'search' },
    h('label', {}, 'State', h('select', { onchange: (e) => { f.state = e.target.value; draw(); } },
      ['', 'running', 'exited', 'paused', 'restarting', 'created', 'dead'].map((s) => h('option', { value: s }, s || 'All states')))),
    input('name', 'Name'), input('project', 'Compose project'), input('device', 'Device')), msg, body);
  let list = [];
  async function load() {
    try { list = await all('containers', 20000); draw(); } catch (err) { body.replaceChildren(errorBox(err, 'containers')); }
  }
  function draw() {
    const rows = list.filter((c) => (!f.state || c.state === f.state) && (!f.name || c.name.toLowerCase().includes(f.name)) &&
      (!f.project || (c.compose_project || '').toLowerCase().includes(f.project)) && (!f.device || c.device_name.toLowerCase().includes(f.device)));
    body.replaceChildren(rows.length ? containerTable(rows, true, async (c, action) => {
      if (DESTRUCTIVE.has(action) && !await confirmAction(`${action} ${c.name}?`, `This ${action}s ${c.name} on ${c.device_name}.`, action)) return;
      try {
        const op = await api('POST', `devices/${c.device_id}/containers/${encodeURIComponent(c.name)}/actions`, { action });
        msg.replaceChildren(`${action} ${c.name}: `, badge(op.state), ' — follow it on ', h('a', { href: '#/operations' }, 'Operations'));
      } catch (err) { msg.textContent = `${action} ${c.name}: ${err.message}`; }
    }) : h('div', { class: 'empty' }, list.length ? 'No container matches these filters.' : 'No containers seen on any device yet.'));
  }
  const r = throttle(load, 2000);
  await load();
  return { refresh: load, onUpdate: (m) => { if (m.topic.endsWith('.containers')) r(); }, dispose: () => r.cancel() };
}

async function operations(root) {
  const body = h('div', {});
  root.append(h('h1', {}, 'Operations'), body);
  async function load() {
    try {
      const list = (await api('GET', 'operations?limit=50')).items;
      body.replaceChildren(...(list.length ? list.map(opView) : [h('div', { class: 'empty' }, 'No operations yet. Container actions on a device page start them.')]));
    } catch (err) { body.replaceChildren(errorBox(err, 'operations')); }
  }
  const r = throttle(load, 1000);
  await load();
  return { refresh: load, onUpdate: (m) => { if (m.topic === 'operations') r(); }, dispose: () => r.cancel() };
}

async function alerts(root) {
  const body = h('div', { class: 'table-wrap', tabindex: '0' });
  const msg = h('p', { role: 'status', class: 'muted' });
  root.append(h('h1', {}, 'Alerts'), msg, body);
  const order = { firing: 0, pending: 1, resolved: 2 };
  async function load() {
    try {
      const list = (await all('alerts', 1000)).sort((a, b) => (order[a.state] ?? 1) - (order[b.state] ?? 1) || new Date(b.fired_at) - new Date(a.fired_at));
      if (!list.length) { body.replaceChildren(h('div', { class: 'empty' }, 'No alerts. Rules are under Rules; alerts appear here when one fires.')); return; }
      body.replaceChildren(h('table', { id: 'alerts-table' }, h('thead', {}, h('tr', {}, ['State', 'Severity', 'Device', 'Rule', 'Message', 'Fired', 'Acknowledged', can('operate') ? 'Actions' : null]
        .filter((t) => t).map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((a) => h('tr', { 'data-alert': a.id, 'data-state': a.state },
        h('td', {}, badge(a.state), a.silenced_until && new Date(a.silenced_until) > new Date() ? badge('silenced') : null),
        h('td', {}, badge(a.severity)), h('td', {}, h('a', { href: `#/devices/${a.device_id}` }, a.device)), h('td', {}, a.rule),
        h('td', {}, a.message), h('td', {}, ago(a.fired_at)),
        h('td', { 'data-ack': a.acknowledged_at ? 'yes' : 'no' }, a.acknowledged_at ? [ago(a.acknowledged_at), ' by ', a.acknowledged_by || ''] : ''),
        can('operate') ? h('td', { class: 'row' },
          a.state === 'firing' && !a.acknowledged_at ? h('button', { type: 'button', 'aria-label': `Acknowledge: ${a.rule} on ${a.device}`, onclick: () => post(a, 'acknowledge', {}) }, 'Acknowledge') : null,
          a.state !== 'resolved' ? h('button', { type: 'button', class: 'secondary', 'aria-label': `Silence 1 h: ${a.rule} on ${a.device}`, onclick: () => post(a, 'silence', { duration: '1h' }) }, 'Silence 1 h') : null) : null)))));
    } catch (err) { body.replaceChildren(errorBox(err, 'alerts')); }
  }
  async function post(a, what, body2) {
    try { await api('POST', `alerts/${a.id}/${what}`, body2); msg.textContent = `${what === 'acknowledge' ? 'Acknowledged' : 'Silenced'}: ${a.rule} on ${a.device}`; load(); }
    catch (err) { msg.textContent = err.message; }
  }
  const r = throttle(load, 1500);
  await load();
  return { refresh: load, onUpdate: (m) => { if (m.topic === 'events' || m.topic.endsWith('.status')) r(); }, dispose: () => r.cancel() };
}

// --------------------------------------------------------------------------------------------------------- admin

/** listPage renders a read-only table of a collection with optional row actions. */
function listPage(title, path, columns, empty, rowActions) {
  return async (root) => {
    const body = h('div', { class: 'table-wrap', tabindex: '0' });
    const msg = h('p', { role: 'status', class: 'muted' });
    root.append(h('h1', {}, title), msg, body);
    async function load() {
      try {
        const list = await all(path, 1000);
        if (!list.length) { body.replaceChildren(h('div', { class: 'empty' }, empty)); return; }
        const acts = rowActions ? rowActions.filter((a) => can(a.scope)) : [];
        body.replaceChildren(h('table', {}, h('thead', {}, h('tr', {}, [...columns.map((c) => c[0]), acts.length ? 'Actions' : null].filter((t) => t).map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, list.map((item) => h('tr', {}, columns.map(([, f]) => h('td', {}, f(item))),
            acts.length ? h('td', { class: 'row' }, acts.filter((a) => !a.when || a.when(item)).map((a) => h('button', { type: 'button', class: 'secondary', 'aria-label': `${a.label} ${item.name || item.id}`,
              onclick: async () => {
                if (a.confirm && !await confirmAction(`${a.label} ${item.name || ''}?`, a.confirm(item), a.label)) return;
                try { const res = await api('POST', a.path(item), a.body || {}); msg.textContent = `${a.label}: ${res?.summary || res?.status || 'done'}`; load(); }
                catch (err) { msg.textContent = `${a.label}: ${err.message}`; }
              } }, a.label))) : null)))));
      } catch (err) { body.replaceChildren(errorBox(err, title.toLowerCase())); }
    }
    await load();
    return { refresh: load };
  };
}

export const when = (t) => (t ? ago(t) : '');

/** packageUpdates lists the devices' pending package updates, security first (GET /updates). */
function packageUpdates() {
  const el = h('section', { id: 'package-updates', 'aria-labelledby': 'pkg-h' });
  async function load() {
    try {
      const r = await api('GET', 'updates');
      const list = (r.items || []).filter((d) => d.total > 0 || d.failed || d.reboot === 'required')
        .sort((a, b) => b.security - a.security || b.total - a.total || (a.device_name || '').localeCompare(b.device_name || ''));
      const t = r.totals || {};
      el.replaceChildren(h('h2', { id: 'pkg-h' }, 'Packages'),
        h('p', { class: 'muted', id: 'pkg-totals' }, `${t.security_updates ?? 0} security updates on ${t.devices_with_security_updates ?? 0} devices; ` +
          `${t.devices_with_updates ?? 0} devices with updates; ${t.reboot_required ?? 0} need a reboot.`),
        list.length ? h('div', { class: 'table-wrap', tabindex: '0' }, h('table', { id: 'package-table' }, h('caption', { class: 'sr' }, 'Pending package updates per device'),
          h('thead', {}, h('tr', {}, ['Device', 'Security', 'Total', 'Manager', 'Reboot', 'Checked', 'Packages (security first)'].map((x, i) => h('th', { scope: 'col', class: i === 1 || i === 2 ? 'num' : null }, x)))),
          h('tbody', {}, list.map((d) => {
            const pk = [...(d.updates || [])].sort((a, b) => Number(b.security) - Number(a.security) || a.name.localeCompare(b.name));
            return h('tr', { 'data-device': d.device_id },
              h('td', {}, h('a', { href: `#/devices/${d.device_id}` }, d.device_name || d.device_id)),
              h('td', { class: 'num' }, d.security_known ? (d.security ? badge(`${d.security}`) : '0') : h('span', { class: 'muted', title: 'the package manager does not say which updates are security updates' }, 'unknown')),
              h('td', { class: 'num' }, d.total, d.truncated ? '+' : ''), h('td', {}, d.manager),
              h('td', {}, d.reboot === 'required' ? badge('reboot_required') : h('span', { class: 'muted' }, d.reboot || '')),
              h('td', {}, when(d.checked_at), d.failed ? h('div', { class: 'error' }, (d.messages || []).join('; ') || 'the check failed') : null),
              h('td', {}, pk.length ? h('details', {}, h('summary', {}, `${pk.length} packages`), h('ul', { class: 'pkgs' }, pk.map((u) =>
                h('li', {}, u.security ? h('strong', {}, 'security ') : null, h('span', { class: 'mono' }, u.name), ` ${u.current || '?'} → ${u.candidate}`)))) : ''));
          }))))
          : h('div', { class: 'empty' }, 'No pending package updates on any device (or none checked yet; the inventory collection checks them).'));
    } catch (err) {
      el.replaceChildren(h('h2', { id: 'pkg-h' }, 'Packages'), err.status === 404 ? h('div', { class: 'empty' }, 'Package updates: not collected by this server.') : errorBox(err, 'package updates'));
    }
  }
  return { el, load };
}

/** imageUpdates shows the devices' package updates, then running containers whose image tag points at a newer image
 * (GET /image-updates). */
async function imageUpdates(root) {
  const body = h('div', { class: 'table-wrap', tabindex: '0' });
  const pkgs = packageUpdates();
  root.append(h('h1', {}, 'Updates'), pkgs.el, h('h2', {}, 'Container images'), h('p', { class: 'muted' }, 'Container images whose tag now points at a newer image in ' +
    'its registry, updates first.'), body);
  async function load() {
    pkgs.load();
    try {
      const list = (await api('GET', 'image-updates')).items || [];
      body.replaceChildren(list.length ? h('table', { id: 'updates-table' }, h('thead', {}, h('tr', {}, ['Device', 'Container', 'Image', 'Project', 'Status', 'Checked', 'Error']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((u) => h('tr', {}, h('td', {}, h('a', { href: `#/devices/${u.device_id}` }, u.device)), h('td', { class: 'mono' }, u.container),
        h('td', { class: 'mono' }, u.image), h('td', {}, u.compose_project || ''), h('td', {}, badge(u.status)), h('td', {}, when(u.checked_at)),
        h('td', { class: 'muted' }, u.error || '')))))
        : h('div', { class: 'empty' }, 'No running containers checked yet; images are checked every few hours.'));
    } catch (err) { body.replaceChildren(err.status === 404 ? h('div', { class: 'empty' }, 'Updates: not collected yet by this server.') : errorBox(err, 'updates')); }
  }
  await load();
  return { refresh: load };
}

/** withForm renders a form above a page. */
function withForm(form, page) {
  return async (root) => { const p = await page(root); root.querySelector('h1').after(form(() => p.refresh())); return p; };
}

/** tokenForm creates a token and shows its secret once. */
function tokenForm(done) {
  const out = h('output', { class: 'mono', id: 'new-token' });
  const form = h('form', { class: 'filters', id: 'new-token-form', onsubmit: async (e) => {
    e.preventDefault();
    const v = Object.fromEntries(new FormData(form));
    try {
      const t = await api('POST', 'tokens', { name: v.name, scopes: [v.scope] });
      out.replaceChildren(h('strong', {}, `Token ${t.name} (${t.scopes.join(', ')}): `), t.secret || t.token || '',
        h('span', { class: 'muted' }, ' — copy it now; it is not shown again.'));
      form.reset();
      done();
    } catch (err) { out.textContent = err.message; }
  } },
  h('label', {}, 'Name', h('input', { name: 'name', required: true })),
  h('label', {}, 'Scope', h('select', { name: 'scope' }, ['read', 'operate', 'admin'].map((x) => h('option', { value: x }, x)))),
  h('button', { type: 'submit' }, 'Create token'));
  return h('div', { class: 'card' }, h('h2', {}, 'New token'), form, out);
}

/** placeholder is the page of a place in the navigation whose data the API does not serve yet. */
export function placeholder(title, text) {
  return async (root) => { root.append(h('h1', {}, title), h('div', { class: 'empty' }, text)); return {}; };
}
// Collected per device and served by the API (and MCP), without a page of their own in the dashboard yet.
const later = (title, route) => ({ later: true, render: placeholder(title, `${title} are collected per device: ` +
  `GET /api/v1/devices/{id}/${route} and the MCP tools serve them. The dashboard has no page for them yet.`) });

export const routes = [
  { pattern: /^\/$/, render: fleet },
  { pattern: /^\/devices\/([0-9a-f-]{36})$/, render: device },
  { pattern: /^\/devices\/([0-9a-f-]{36})\/services$/, render: deviceServices },
  { pattern: /^\/devices\/([0-9a-f-]{36})\/logs$/, render: deviceLogs },
  { pattern: /^\/containers$/, render: containers },
  { pattern: /^\/operations$/, render: operations },
  { pattern: /^\/alerts$/, render: alerts },
  { pattern: /^\/drives$/, render: drivesPage },
  { pattern: /^\/pools$/, render: poolsPage },
  { pattern: /^\/logs$/, render: logsIndex },
  { pattern: /^\/services$/, render: fleetServices },
  { pattern: /^\/updates$/, render: imageUpdates },
  { pattern: /^\/vms$/, ...later('VMs', 'vms') },
  { pattern: /^\/networks$/, ...later('Networks', 'network') },
  { pattern: /^\/admin\/rules$/, render: rulesPage },
  { pattern: /^\/admin\/channels$/, render: channelsPage },
  { pattern: /^\/admin\/windows$/, render: windowsPage },
  { pattern: /^\/admin\/schedules$/, render: schedulesPage },
  { pattern: /^\/admin\/tokens$/, render: withForm(tokenForm, listPage('Tokens', 'tokens', [['Name', (t) => t.name], ['Scopes', (t) => t.scopes.join(', ')], ['Prefix', (t) => t.prefix],
    ['Created', (t) => when(t.created_at)], ['Expires', (t) => (t.expires_at ? ago(t.expires_at) : 'never')], ['Last used', (t) => when(t.last_used_at)], ['Revoked', (t) => when(t.revoked_at)]],
  'No tokens.')) },
  { pattern: /^\/admin\/audit$/, render: listPage('Audit log', 'audit', [['When', (a) => ago(a.time)], ['Token', (a) => a.token_name], ['Action', (a) => a.action],
    ['Target', (a) => a.target], ['Outcome', (a) => badge(a.outcome)], ['Status', (a) => a.status_code]], 'No audit records.') },
];
