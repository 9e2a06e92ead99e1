// Logs (#12 in the dashboard): search a device's system log, and follow it or a container's output live over the
// dashboard's WebSocket, with the tail's markers (started, gap, dropped, error) shown in the stream.
import { h, api, all, errorBox, tails } from './lib.js';
import { deviceLinks } from './services.js';

const PRIORITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
const MAX_TAIL_LINES = 1000;

/**
 * tailView follows one log topic: el shows the lines and markers, onMessage takes the page's live messages,
 * lost() notes that the page's stream dropped (lines printed meanwhile are not shown), stop() unsubscribes.
 */
export function tailView(topic, label) {
  const list = h('ol', { class: 'tail', tabindex: '0', 'aria-label': `Live: ${label}`, 'data-topic': topic });
  const status = h('p', { role: 'status', class: 'muted tail-status' }, 'Connecting to the live tail…');
  const el = h('section', { class: 'card tail-box' }, status, list);
  const prefix = topic.split('?')[0];
  let lines = 0;
  const add = (li) => {
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    list.append(li);
    while (list.childElementCount > MAX_TAIL_LINES) list.firstElementChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  };
  const marker = (kind, text) => add(h('li', { class: `marker m-${kind}`, 'data-event': kind }, h('strong', {}, `— ${kind}: `), text));
  function onMessage(m) {
    if (m.type === 'subscribed') {
      if (m.id !== tails.idOf(topic)) return false;
      if (!lines && !list.childElementCount) status.textContent = 'Following live; new lines appear here as the device writes them.';
      return true;
    }
    if (m.type === 'error') {
      if (m.id !== tails.idOf(topic)) return false;
      status.className = 'error tail-status';
      status.textContent = `The live tail was refused: ${m.data?.message || m.data?.code || 'error'}`;
      tails.unwatch(topic);
      return true;
    }
    if (m.type !== 'update' || !(m.topic === topic || m.topic?.split('?')[0] === prefix)) return false;
    const d = m.data || {};
    if (d.lines) {
      for (const l of d.lines) {
        lines++;
        add(h('li', { class: l.stream === 'stderr' || ['emerg', 'alert', 'crit', 'err'].includes(l.priority) ? 'stderr' : null, 'data-line': '' },
          h('span', { class: 'muted' }, l.time ? new Date(l.time).toLocaleTimeString() + ' ' : ''),
          l.priority ? h('span', { class: 'muted' }, `${l.priority} `) : null,
          l.identifier || l.unit ? h('span', { class: 'muted' }, `${l.identifier || l.unit}${l.pid ? `[${l.pid}]` : ''}: `) : null,
          l.stream === 'stderr' ? h('span', { class: 'sr' }, 'stderr: ') : null,
          l.text, l.cut ? h('span', { class: 'muted' }, ' … (cut)') : null));
      }
      status.className = 'muted tail-status';
      status.textContent = `Following live: ${lines} lines so far.`;
    } else if (d.event === 'started') {
      status.textContent = 'Following live; the newest lines first, then each new one.';
      marker('started', 'the tail started');
    } else if (d.event === 'gap') {
      const span = d.from && d.to ? ` (${new Date(d.from).toLocaleTimeString()} – ${new Date(d.to).toLocaleTimeString()})` : '';
      marker('gap', `${d.message || 'the tail lost its link to the device and resumed'}${span}`);
    } else if (d.event === 'dropped') {
      marker('dropped', d.message || `${d.dropped} lines left out`);
    } else if (d.event === 'error') {
      marker('error', d.message || 'the tail stopped');
      status.className = 'error tail-status';
      status.textContent = `The live tail stopped: ${d.message || 'error'}`;
    }
    return true;
  }
  tails.watch(topic);
  return {
    el, onMessage,
    lost: () => marker('gap', 'the dashboard lost its live stream; lines printed meanwhile are not shown here (search to see them)'),
    stop: () => tails.unwatch(topic),
  };
}

/** logsIndex picks a device for its logs. */
export async function logsIndex(root) {
  root.append(h('h1', {}, 'Logs'), h('p', { class: 'muted' }, 'Search a device\'s system log (journald, else /var/log/syslog, ' +
    '/var/log/messages or logread) or follow it live. Container logs are on the device page.'));
  try {
    const devices = await all('devices', 2000);
    if (!devices.length) { root.append(h('div', { class: 'empty' }, 'No devices yet.')); return {}; }
    root.append(h('ul', { class: 'picks' }, devices.map((d) => h('li', {}, h('a', { href: `#/devices/${d.id}/logs` }, d.name), ' ', h('span', { class: 'muted' }, d.status)))));
  } catch (err) { root.append(errorBox(err, 'devices')); }
  return {};
}

/** deviceLogs searches a device's system log and follows it live. */
export async function deviceLogs(root, id) {
  let dev;
  try { dev = await api('GET', `devices/${id}`); } catch (err) { root.append(h('h1', {}, 'Logs'), errorBox(err, 'this device')); return {}; }
  const err = h('p', { class: 'error', role: 'alert', id: 'logs-error' });
  const info = h('p', { role: 'status', class: 'muted', id: 'logs-info' });
  const results = h('div', { class: 'table-wrap', tabindex: '0', id: 'log-results' });
  const live = h('div', { id: 'log-tail' });
  const field = (name, label, attrs = {}) => h('label', {}, label, h('input', { name, id: 'log-' + name, ...attrs }));
  const form = h('form', { class: 'filters', id: 'log-form', role: 'search', onsubmit: (e) => { e.preventDefault(); search(); } },
    field('unit', 'Unit', { placeholder: 'nginx', spellcheck: 'false' }),
    h('label', {}, 'Priority (and worse)', h('select', { name: 'priority', id: 'log-priority' }, h('option', { value: '' }, 'any'), PRIORITIES.map((p) => h('option', { value: p }, p)))),
    h('label', {}, 'Since', h('select', { name: 'since', id: 'log-since' }, [['', 'any time'], ['15m', '15 minutes'], ['1h', '1 hour'], ['24h', '24 hours'], ['168h', '7 days']]
      .map(([v, l]) => h('option', { value: v }, l)))),
    field('grep', 'Contains', { type: 'search', spellcheck: 'false' }),
    field('limit', 'Newest', { type: 'number', min: 1, max: 5000, value: 200 }),
    h('button', { type: 'submit' }, 'Search'),
    h('button', { type: 'button', class: 'secondary', id: 'log-follow', 'aria-pressed': 'false', onclick: () => toggleTail() }, 'Follow live'));
  root.append(h('h1', {}, `Logs of ${dev.name}`), deviceLinks(id, '/logs'), form, err, info, live, results);
  let tail = null;

  const values = () => Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== ''));

  async function search() {
    err.textContent = '';
    info.textContent = 'Searching the device\'s log…';
    results.setAttribute('aria-busy', 'true');
    try {
      const r = await api('GET', `devices/${id}/logs?${new URLSearchParams(values())}`);
      const notes = [];
      if (r.source === 'none') notes.push('This device has no system log the product can read (no journald, /var/log/syslog, /var/log/messages or logread).');
      if (r.unapplied?.length) notes.push(`The ${r.source} source could not apply: ${r.unapplied.join(', ')}; those entries were kept.`);
      if (r.skipped) notes.push(`${r.skipped} lines could not be read.`);
      info.replaceChildren(`${r.entries.length} entries from ${r.source}, oldest first.`, ' ', notes.join(' '));
      results.replaceChildren(r.truncated ? h('p', { class: 'cut', id: 'logs-cut', role: 'note' }, 'Cut: the device\'s answer reached the size or time bound, ' +
        'so older or newer matches may be missing. Narrow the search (unit, priority, since, contains).') : '',
      r.entries.length ? h('table', { id: 'log-table', class: 'logs-table' }, h('caption', { class: 'sr' }, 'Log entries'),
        h('thead', {}, h('tr', {}, ['Time', 'Priority', 'Source', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, r.entries.map((e) => h('tr', { 'data-priority': e.priority || '' },
          h('td', { class: 'nowrap' }, h('time', { datetime: e.time, title: new Date(e.time).toISOString() }, new Date(e.time).toLocaleString())),
          h('td', {}, e.priority || ''),
          h('td', { class: 'mono' }, e.unit || e.identifier || '', e.pid ? `[${e.pid}]` : ''),
          h('td', { class: 'mono msg' }, e.message, e.cut ? h('span', { class: 'muted' }, ' … (cut)') : null, e.binary ? h('span', { class: 'muted' }, ' (binary)') : null)))))
        : h('div', { class: 'empty' }, 'No entries match.'));
    } catch (e) {
      info.textContent = '';
      err.textContent = e.fields ? 'Check the search: ' + Object.entries(e.fields).map(([k, m]) => `${k} ${m}`).join('; ') : `The search failed: ${e.message}`;
      results.replaceChildren();
    }
    results.removeAttribute('aria-busy');
  }

  function toggleTail() {
    const btn = form.querySelector('#log-follow');
    if (tail) {
      tail.stop();
      tail = null;
      live.replaceChildren();
      btn.setAttribute('aria-pressed', 'false');
      btn.textContent = 'Follow live';
      return;
    }
    const v = values();
    const q = new URLSearchParams(Object.entries({ unit: v.unit, priority: v.priority, grep: v.grep }).filter(([, x]) => x));
    const topic = `device.${id}.logs` + (q.toString() ? '?' + q : '');
    tail = tailView(topic, `system log of ${dev.name}`);
    live.replaceChildren(h('h2', {}, 'Live'), tail.el);
    btn.setAttribute('aria-pressed', 'true');
    btn.textContent = 'Stop following';
  }

  await search();
  return {
    refresh: () => { tail?.lost(); },
    onUpdate: (m) => { tail?.onMessage(m); },
    dispose: () => { tail?.stop(); },
  };
}
