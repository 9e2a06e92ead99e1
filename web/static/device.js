// The device page: its status and host keys, charts over the chosen range with live appends, filesystems,
// containers with their logs and actions, operations, events and storage.
import { h, api, all, can, bytes, pct, num, unit, ago, badge, chart, confirmAction, errorBox } from './lib.js';
import { deviceLinks } from './services.js';
import { tailView } from './logs.js';
import { deviceStorage } from './storage.js';
import { throttle, newest, deviceOf, opView, eventTable, containerTable, when, DESTRUCTIVE } from './pages.js';

const RANGES = [['1h', '1 h', '15s'], ['24h', '24 h', '5m'], ['168h', '7 d', '30m'], ['720h', '30 d', '2h'], ['8760h', '1 y', '24h']];
const CHARTS = [
  ['cpu', 'CPU', ['usage_percent', 'iowait_percent', 'steal_percent']],
  ['cpu_cores', 'CPU per core', ['usage_percent']],
  ['memory', 'Memory and swap', ['used_percent', 'swap_used_percent']],
  ['load', 'Load', ['load1', 'load5', 'load15']],
  ['network', 'Network', ['rx_bytes_per_sec', 'tx_bytes_per_sec']],
  ['diskio', 'Disk I/O', ['read_bytes_per_sec', 'write_bytes_per_sec']],
  ['disk', 'Filesystems used', ['used_percent']],
  ['temperature', 'Temperatures', ['celsius']],
];
let deviceRange = '1h';

export async function device(root, id) {
  const head = h('div', {});
  const actions = h('div', { class: 'row', id: 'device-actions' });
  const keys = h('div', { id: 'host-keys', class: 'table-wrap', tabindex: '0' });
  const ranges = h('div', { class: 'ranges', role: 'group', 'aria-label': 'Chart range' });
  const charts = h('div', { class: 'grid', id: 'charts' });
  const fs = h('div', { class: 'table-wrap', tabindex: '0', id: 'filesystems' });
  const ctrs = h('div', { class: 'table-wrap', tabindex: '0', id: 'containers' });
  const ops = h('div', { id: 'operations', 'aria-live': 'polite' });
  const events = h('div', { class: 'table-wrap', tabindex: '0', id: 'events' });
  const msg = h('p', { role: 'status', id: 'device-message', class: 'muted' });
  const storage = deviceStorage(id);
  root.append(head, actions, msg, h('h2', {}, 'Host keys'), keys,
    h('div', { class: 'row' }, h('h2', {}, 'Charts'), ranges), charts,
    h('h2', {}, 'Filesystems'), fs, storage.el, h('h2', {}, 'Containers'), ctrs, h('h2', {}, 'Operations'), ops,
    h('h2', {}, 'Events'), events);
  const tracked = new Map(); // operation id -> element
  let timers = [];
  let dev = null;

  const say = (text, cls = 'muted') => { msg.className = cls; msg.textContent = text; };

  const headCall = newest(), keysCall = newest(), eventsCall = newest();
  async function loadHead() {
    // The poll loop's state comes from a query to its workflow, which can take a while when the worker is busy:
    // the stored status is shown at once, the Temporal UI link when the query answers.
    const stale = headCall();
    const statusP = api('GET', `devices/${id}/status`).catch(() => null); // no poll loop: no link
    let got;
    try {
      got = await api('GET', `devices/${id}`);
    } catch (err) {
      if (stale()) return true;
      head.replaceChildren(errorBox(err, 'this device'));
      return false;
    }
    if (stale()) return true;
    dev = got;
    const link = h('p', {});
    head.replaceChildren(h('h1', {}, dev.name), deviceLinks(id, ''),
      h('p', { id: 'device-status' }, badge(dev.status), ' ', dev.status_reason || '', ' · last seen ', ago(dev.last_seen),
        ' · ', `${dev.user}@${dev.host}:${dev.port}`, ' ', (dev.tags || []).map((t) => h('span', { class: 'tag' }, t))),
      link);
    statusP.then((status) => {
      if (status?.temporal_ui) link.replaceChildren(h('a', { href: status.temporal_ui, target: '_blank', rel: 'noopener noreferrer', id: 'temporal-link' },
        'Poll workflow in the Temporal UI'));
    });
    actions.replaceChildren(...(can('operate') ? [
      h('button', { type: 'button', onclick: () => act('poll', 'Poll finished') }, 'Poll now'),
      h('button', { type: 'button', class: 'secondary', onclick: () => act('pause', 'Polling paused') }, 'Pause polling'),
      h('button', { type: 'button', class: 'secondary', onclick: () => act('resume', 'Polling resumed') }, 'Resume polling'),
    ] : []));
    return true;
  }

  async function act(what, done) {
    say(`${what}…`);
    try { await api('POST', `devices/${id}/${what}`); say(done); loadHead(); } catch (err) { say(err.message, 'error'); }
  }

  async function loadKeys() {
    const stale = keysCall();
    try {
      const list = (await api('GET', `devices/${id}/host-keys`)).items;
      if (stale()) return;
      if (!list.length) { keys.replaceChildren(h('p', { class: 'muted' }, 'No host key seen yet; the first poll records it.')); return; }
      keys.replaceChildren(h('table', {}, h('thead', {}, h('tr', {}, ['Role', 'Type', 'Fingerprint', 'State', 'First seen', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, list.map((k) => h('tr', { 'data-state': k.state },
          h('td', {}, k.role), h('td', {}, k.key_type), h('td', { class: 'fp' }, k.fingerprint), h('td', {}, badge(k.state)),
          h('td', {}, ago(k.first_seen)),
          h('td', {}, k.state === 'pending' && can('admin') ? h('button', { type: 'button', 'aria-label': `Approve host key ${k.fingerprint}`,
            onclick: async () => {
              if (!await confirmAction('Approve this host key?', `Compare it with the device's own key first (ssh-keygen -lf on the device). ${k.fingerprint}`, 'Approve')) return;
              try { await api('POST', `devices/${id}/host-key/approve`, { fingerprint: k.fingerprint }); say('Host key approved; polling resumes.'); loadKeys(); loadHead(); } catch (err) { say(err.message, 'error'); }
            } }, 'Approve') : null))))));
    } catch (err) { if (!stale()) keys.replaceChildren(errorBox(err, 'host keys')); }
  }

  function drawRanges() {
    ranges.replaceChildren(...RANGES.map(([v, l]) => h('button', { type: 'button', 'aria-pressed': String(v === deviceRange),
      onclick: () => { deviceRange = v; drawRanges(); loadCharts(); } }, l)));
  }

  async function loadCharts() {
    const results = await Promise.all(CHARTS.map(async ([metric, title, names]) => {
      try {
        const step = RANGES.find((r) => r[0] === deviceRange)[2];
        const m = await api('GET', `devices/${id}/metrics?metric=${metric}&from=${deviceRange}&step=${step}`);
        const series = m.series.filter((s) => names.includes(s.name))
          .map((s) => ({ label: (s.label ? s.label + ' ' : '') + s.name.replace(/_/g, ' '), unit: s.unit, points: s.points }));
        if (metric === 'disk') drawFilesystems(m.series);
        if (!series.length || !series.some((s) => s.points.some((p) => p.avg !== null))) {
          return h('div', { class: 'card', 'data-metric': metric }, h('h3', {}, title), h('p', { class: 'muted' }, 'No samples in this range yet.'));
        }
        const c = chart(title, series.slice(0, 12), m.from, m.to);
        return h('div', { class: 'card', 'data-metric': metric, 'data-source': m.source }, h('h3', {}, title,
          h('span', { class: 'muted' }, ` (${m.source}, step ${m.step})`)), c);
      } catch (err) { return h('div', { class: 'card', 'data-metric': metric }, h('h3', {}, title), errorBox(err, title)); }
    }));
    charts.replaceChildren(...results);
  }

  function drawFilesystems(series) {
    const by = new Map();
    for (const s of series) {
      const last = [...s.points].reverse().find((p) => p.avg !== null);
      if (!last) continue;
      const row = by.get(s.label) || {};
      row[s.name] = last.avg;
      by.set(s.label, row);
    }
    if (!by.size) { fs.replaceChildren(h('p', { class: 'muted' }, 'No filesystem samples in this range.')); return; }
    fs.replaceChildren(h('table', {}, h('thead', {}, h('tr', {}, ['Mount', 'Used', 'Size', 'Used %', 'Inodes %'].map((t, i) => h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
      h('tbody', {}, [...by].sort().map(([mount, r]) => h('tr', {}, h('td', { class: 'mono' }, mount),
        h('td', { class: 'num' }, bytes(r.used_bytes)), h('td', { class: 'num' }, bytes(r.size_bytes)),
        h('td', { class: 'num' }, pct(r.used_percent)), h('td', { class: 'num' }, pct(r.inodes_used_percent)))))));
  }

  async function loadContainers() {
    try {
      const list = await all(`devices/${id}/containers`);
      if (!list.length) { ctrs.replaceChildren(h('p', { class: 'muted' }, 'No containers on this device (or Docker is not reachable for its user).')); return; }
      ctrs.replaceChildren(containerTable(list, false, startOp, showLogs), logs);
    } catch (err) { ctrs.replaceChildren(errorBox(err, 'containers')); }
  }

  const logs = h('section', { id: 'logs', 'aria-live': 'polite' });
  let tail = null; // the live tail of a container's output, when followed
  function follow(c) {
    tail?.stop();
    tail = tailView(`device.${id}.containers.${c.name}.logs`, `output of ${c.name}`);
    logs.replaceChildren(h('div', { class: 'row' }, h('h3', {}, `Live output of ${c.name}`),
      h('button', { type: 'button', class: 'secondary', id: 'stop-follow', onclick: () => { tail?.stop(); tail = null; logs.replaceChildren(); } }, 'Stop following')), tail.el);
  }
  async function showLogs(c) {
    tail?.stop();
    tail = null;
    logs.replaceChildren(h('h3', {}, `Logs of ${c.name}`), h('p', { class: 'muted' }, 'Fetching the last 200 lines from the device…'));
    try {
      const res = await api('GET', `devices/${id}/containers/${encodeURIComponent(c.name)}/logs?tail=200`);
      logs.replaceChildren(h('div', { class: 'row' }, h('h3', {}, `Logs of ${c.name}`, h('span', { class: 'muted' }, ` (last ${res.lines.length} lines${res.truncated ? ', truncated' : ''})`)),
        h('button', { type: 'button', class: 'secondary', 'data-follow': c.name, onclick: () => follow(c) }, 'Follow live')),
        res.lines.length ? h('pre', { class: 'logs', tabindex: '0', 'aria-label': `Logs of ${c.name}` }, res.lines.map((l) =>
          h('span', { class: l.stream === 'stderr' ? 'stderr' : null }, l.time ? new Date(l.time).toLocaleTimeString() + '  ' : '', l.text, '\n')))
          : h('p', { class: 'muted' }, 'No output.'));
    } catch (err) { logs.replaceChildren(errorBox(err, `the logs of ${c.name}`)); }
  }

  async function startOp(c, action) {
    if (DESTRUCTIVE.has(action) && !await confirmAction(`${action[0].toUpperCase() + action.slice(1)} ${c.name}?`,
      `This ${action}s the container ${c.name} on ${c.device_name || dev?.name}.`, action[0].toUpperCase() + action.slice(1))) return;
    try {
      const op = await api('POST', `devices/${c.device_id}/containers/${encodeURIComponent(c.name)}/actions`, { action });
      track(op);
    } catch (err) { say(`${action} ${c.name}: ${err.message}`, 'error'); }
  }

  function track(op) {
    let el = tracked.get(op.id);
    const view = opView(op);
    ops.querySelector(':scope > p.muted')?.remove(); // "no operations yet"
    if (el) el.replaceWith(view); else ops.prepend(view);
    tracked.set(op.id, view);
    if (!['succeeded', 'failed', 'cancelled'].includes(op.state)) {
      const t = setTimeout(async () => { try { track(await api('GET', `operations/${op.id}`)); } catch { /* retried on the next update */ } }, 1000);
      timers.push(t);
    } else {
      loadContainers();
    }
  }

  async function loadOps() {
    try {
      const list = (await api('GET', `operations?device_id=${id}&limit=10`)).items;
      for (const op of list.reverse()) track(op);
      if (!list.length && !tracked.size) ops.replaceChildren(h('p', { class: 'muted' }, 'No operations on this device yet.'));
    } catch (err) { ops.replaceChildren(errorBox(err, 'operations')); }
  }

  async function loadEvents() {
    const stale = eventsCall();
    try {
      const list = (await api('GET', `events?device_id=${id}&limit=20`)).items;
      if (stale()) return;
      events.replaceChildren(list.length ? eventTable(list) : h('p', { class: 'muted' }, 'No events yet.'));
    } catch (err) { if (!stale()) events.replaceChildren(errorBox(err, 'events')); }
  }

  drawRanges();
  if (!await loadHead()) return {};
  const everything = () => Promise.all([loadHead(), loadKeys(), loadCharts(), loadContainers(), loadOps(), loadEvents(), storage.load()]);
  await Promise.all([loadKeys(), loadCharts(), loadContainers(), loadOps(), loadEvents(), storage.load()]);
  const charts5 = throttle(loadCharts, 5000), head2 = throttle(() => { loadHead(); loadKeys(); loadEvents(); }, 1000);
  const ctr2 = throttle(loadContainers, 1000);
  return {
    refresh: () => { tail?.lost(); return everything(); },
    onUpdate(m) {
      if (tail?.onMessage(m)) return;
      if (m.type !== 'update' || m.topic.endsWith('.logs')) return;
      storage.onUpdate(m);
      if (m.topic.endsWith('.storage')) return;
      if (m.topic === 'operations') { const op = m.data; if (op?.id && tracked.has(op.id)) api('GET', `operations/${op.id}`).then(track, () => {}); return; }
      if (deviceOf(m.topic) !== id && m.topic !== 'events') return;
      if (m.topic.endsWith('.metrics')) charts5();
      else if (m.topic.endsWith('.containers')) ctr2();
      else head2();
    },
    dispose() { tail?.stop(); storage.dispose(); charts5.cancel(); head2.cancel(); ctr2.cancel(); timers.forEach(clearTimeout); timers = []; },
  };
}
