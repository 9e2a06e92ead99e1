// Admin pages (#14): alert rules, notification channels (with a test send), maintenance windows and schedules, each a
// list with a form to create and edit an entry. Forms and change buttons
// are shown to admin tokens only (pause, resume and trigger of a schedule to operate tokens); the server enforces
// the scopes regardless.
import { h, api, all, can, ago, badge, confirmAction, errorBox } from './lib.js';
import { makeForm, numOrNull, localInput } from './forms.js';

const yes = (b) => (b ? 'yes' : 'no');
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/**
 * adminPage is the frame the four pages share: a heading, the editor (admins), a status line and the table.
 * spec: {title, path, empty, load() extra data, columns(ctx) [[header, cell(item)]], actions(item, ctx) buttons,
 * form(item|null, ctx) makeForm options, noun}.
 */
function adminPage(spec) {
  return async (root) => {
    const admin = can('admin');
    const editorBox = h('div', { id: 'editor' });
    const msg = h('p', { role: 'status', class: 'muted', id: 'admin-message' });
    const body = h('div', { class: 'table-wrap', tabindex: '0', id: 'admin-list' });
    root.append(h('h1', {}, spec.title), admin ? editorBox : null, msg, body);
    const ctx = { say: (text, cls = 'muted') => { msg.className = cls; msg.textContent = text; }, reload: () => load(), edit: (item) => edit(item) };

    function edit(item) {
      if (!admin) return;
      const f = makeForm({ ...spec.form(item, ctx), onCancel: item ? () => edit(null) : null });
      editorBox.replaceChildren(f.el);
      if (item) f.form.querySelector('input, select')?.focus();
    }

    async function load() {
      try {
        const [list, extra] = await Promise.all([all(spec.path, 1000), spec.load ? spec.load() : null]);
        ctx.extra = extra;
        if (admin && !editorBox.firstChild) edit(null);
        if (!list.length) { body.replaceChildren(h('div', { class: 'empty' }, spec.empty)); return; }
        const cols = spec.columns(ctx);
        const withActions = list.some((it) => spec.actions(it, ctx).length);
        body.replaceChildren(h('table', { id: spec.id }, h('caption', { class: 'sr' }, spec.title),
          h('thead', {}, h('tr', {}, [...cols.map((c) => c[0]), withActions ? 'Actions' : null].filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, list.map((item) => h('tr', { 'data-id': item.id, 'data-name': item.name },
            cols.map(([, cell]) => h('td', {}, cell(item))),
            withActions ? h('td', { class: 'row' }, spec.actions(item, ctx)) : null)))));
      } catch (err) { body.replaceChildren(errorBox(err, spec.title.toLowerCase())); }
    }

    await load();
    return { refresh: load };
  };
}

/** button is a row action labelled with what it acts on. */
function button(label, item, onclick, cls = 'secondary') {
  return h('button', { type: 'button', class: cls, 'data-action': label.toLowerCase().replace(/\s+/g, '-'), 'aria-label': `${label} ${item.name}`, onclick }, label);
}

/** remove asks, deletes and reloads. */
function remove(ctx, path, item, what) {
  return button('Delete', item, async () => {
    if (!await confirmAction(`Delete ${what} ${item.name}?`, `This deletes the ${what} ${item.name}; it cannot be undone.`, 'Delete')) return;
    try { await api('DELETE', path); ctx.say(`Deleted ${item.name}.`); ctx.reload(); } catch (err) { ctx.say(`Delete ${item.name}: ${err.message}`, 'error'); }
  });
}

/** save creates (POST) or changes (PATCH) an entry, then shows the list with the editor back to "new". */
async function save(ctx, path, item, body, noun) {
  const out = await api(item ? 'PATCH' : 'POST', item ? `${path}/${item.id}` : path, body);
  ctx.say(`${item ? 'Saved' : 'Created'} ${noun} ${out?.name || body.name}.`);
  ctx.edit(null);
  await ctx.reload();
}

async function devicesAndChannels() {
  const [devices, channels] = await Promise.all([all('devices', 5000), can('admin') ? all('notification-channels').catch(() => []) : []]);
  return { devices, channels };
}
const deviceOptions = (ctx) => [['', '— choose a device —'], ...(ctx.extra?.devices || []).map((d) => [d.id, d.name])];
const deviceName = (ctx, id) => (ctx.extra?.devices || []).find((d) => d.id === id)?.name || id;

// ----------------------------------------------------------------------------------------------------- alert rules

const KINDS = [['metric', 'metric threshold'], ['offline', 'device offline'], ['container', 'container state'],
  ['host_key', 'host key changed'], ['check', 'collection check']];
const METRICS = ['cpu', 'memory', 'swap', 'load_per_core', 'filesystem', 'inodes', 'temperature'];
const CONDITIONS = ['exited_nonzero', 'unhealthy', 'restarting', 'missing'];
const thresholds = (v) => ['metric', 'offline', 'check'].includes(v.kind);

export const rulesPage = adminPage({
  title: 'Alert rules', path: 'alert-rules', id: 'rules-table', load: devicesAndChannels,
  empty: 'No alert rules. Create one with the form above (admins).',
  columns: (ctx) => [['Name', (r) => [r.name, r.builtin ? h('span', { class: 'muted' }, ' (built-in)') : null]], ['Kind', (r) => r.kind],
    ['Watches', (r) => r.metric || r.condition || ''], ['Warning', (r) => r.warning ?? ''], ['Critical', (r) => r.critical ?? ''],
    ['For', (r) => r.duration], ['Scope', (r) => (r.scope === 'tag' ? `tag ${r.scope_tag}` : r.scope === 'device' ? `device ${deviceName(ctx, r.scope_device)}` : 'all devices')],
    ['Enabled', (r) => yes(r.enabled)]],
  actions: (r, ctx) => (can('admin') ? [button('Edit', r, () => ctx.edit(r)), r.builtin ? null : remove(ctx, `alert-rules/${r.id}`, r, 'alert rule')].filter(Boolean) : []),
  form: (r, ctx) => ({
    id: 'rule-form', title: r ? `Edit alert rule ${r.name}` : 'New alert rule', submitLabel: r ? 'Save rule' : 'Create rule',
    fields: [
      { name: 'name', label: 'Name', value: r?.name },
      { name: 'kind', label: 'Kind', type: 'select', options: KINDS, value: r?.kind || 'metric', attrs: { disabled: r?.builtin || null } },
      { name: 'metric', label: 'Metric', type: 'select', options: METRICS.map((m) => [m, m]), value: r?.metric || 'cpu', show: (v) => v.kind === 'metric', attrs: { disabled: r?.builtin || null } },
      { name: 'condition', label: 'Condition', value: r?.condition || '', show: (v) => v.kind === 'container' || v.kind === 'check',
        hint: `container: ${CONDITIONS.join(', ')}; check: the check's name (e.g. drive_health)`, attrs: { disabled: r?.builtin || null } },
      { name: 'warning', label: 'Warning threshold', type: 'number', value: r?.warning ?? '', show: thresholds, attrs: { step: 'any' } },
      { name: 'critical', label: 'Critical threshold', type: 'number', value: r?.critical ?? '', show: thresholds, attrs: { step: 'any' } },
      { name: 'severity', label: 'Severity', type: 'select', options: [['critical', 'critical'], ['warning', 'warning']], value: r?.severity || 'critical', show: (v) => !thresholds(v) },
      { name: 'duration', label: 'For at least', value: r?.duration || '', hint: 'e.g. 5m; empty: at once' },
      { name: 'clear_for', label: 'Clear after', value: r?.clear_for || '', hint: 'e.g. 2m' },
      { name: 'hysteresis_percent', label: 'Hysteresis %', type: 'number', value: r?.hysteresis_percent ?? 5, show: thresholds, attrs: { step: 'any' } },
      { name: 'restarts', label: 'Restarts', type: 'number', value: r?.restarts || '', show: (v) => v.kind === 'container' && v.condition === 'restarting' },
      { name: 'window', label: 'Within', value: r?.window || '', hint: 'e.g. 10m', show: (v) => v.kind === 'container' && v.condition === 'restarting' },
      { name: 'scope', label: 'Applies to', type: 'select', options: [['all', 'all devices'], ['tag', 'devices with a tag'], ['device', 'one device']], value: r?.scope || 'all' },
      { name: 'scope_tag', label: 'Tag', value: r?.scope_tag || '', show: (v) => v.scope === 'tag' },
      { name: 'scope_device', label: 'Device', type: 'select', options: deviceOptions(ctx), value: r?.scope_device || '', show: (v) => v.scope === 'device' },
      { name: 'channels', label: 'Notify through', type: 'checks', options: (ctx.extra?.channels || []).map((c) => [c.id, `${c.name} (${c.type})`]),
        value: r?.channels || [], empty: 'no notification channels yet (Channels page)' },
      { name: 'enabled', label: 'Enabled', type: 'checkbox', value: r ? r.enabled : true },
    ],
    onSubmit: (v) => {
      const b = { name: v.name, scope: v.scope, enabled: v.enabled, channels: v.channels };
      if (!r?.builtin) b.kind = v.kind;
      if ('metric' in v && !r?.builtin) b.metric = v.metric;
      if ('condition' in v && !r?.builtin) b.condition = v.condition;
      if ('severity' in v) b.severity = v.severity;
      if (thresholds(r?.builtin ? r : v)) {
        b.warning = numOrNull(v.warning);
        b.critical = numOrNull(v.critical);
        if (v.hysteresis_percent !== undefined && v.hysteresis_percent !== '') b.hysteresis_percent = Number(v.hysteresis_percent);
      }
      for (const k of ['duration', 'clear_for', 'window']) if (v[k]) b[k] = v[k];
      if (v.restarts) b.restarts = Number(v.restarts);
      if (v.scope === 'tag') b.scope_tag = v.scope_tag;
      if (v.scope === 'device') b.scope_device = v.scope_device || null;
      else if (r) b.scope_device = null;
      return save(ctx, 'alert-rules', r, b, 'alert rule');
    },
  }),
});

// ------------------------------------------------------------------------------------------- notification channels

const TYPES = ['webhook', 'ntfy', 'gotify', 'discord', 'slack', 'telegram', 'matrix', 'email'];
const CONFIG = { email: ['smtp_host', 'smtp_port', 'smtp_security', 'username', 'from', 'to'], telegram: ['chat_id'], matrix: ['room_id'] };
const usesConfig = (key) => (v) => (CONFIG[v.type] || []).includes(key);

export const channelsPage = adminPage({
  title: 'Notification channels', path: 'notification-channels', id: 'channels-table',
  empty: 'No notification channels. Create one with the form above; alert rules then notify through it.',
  columns: () => [['Name', (c) => c.name], ['Type', (c) => c.type], ['Sends to', (c) => h('span', { class: 'mono' }, c.url || c.config?.smtp_host || '')],
    ['Min severity', (c) => c.min_severity], ['Rate/min', (c) => c.rate_per_minute], ['Enabled', (c) => yes(c.enabled)],
    ['Last test', (c) => h('span', { 'data-test-result': c.id })]],
  actions: (c, ctx) => [button('Send test', c, async (e) => {
    const cell = document.querySelector(`[data-test-result="${c.id}"]`);
    e.target.disabled = true;
    cell.replaceChildren('sending…');
    ctx.say(`Sending a test notice through ${c.name}…`);
    try {
      const d = await api('POST', `notification-channels/${c.id}/test`, {});
      cell.replaceChildren(badge(d.state === 'sent' ? 'succeeded' : d.state), d.state === 'sent' ? ' sent' : '', d.last_error ? h('div', { class: 'error' }, d.last_error) : null);
      cell.dataset.state = d.state;
      ctx.say(d.state === 'sent' ? `Test notice sent through ${c.name}.` : `Test notice through ${c.name}: ${d.state}${d.last_error ? ' — ' + d.last_error : ''}`, d.state === 'sent' ? 'muted' : 'error');
    } catch (err) { cell.replaceChildren(h('span', { class: 'error' }, err.message)); ctx.say(`Test of ${c.name}: ${err.message}`, 'error'); }
    finally { e.target.disabled = false; }
  }), button('Edit', c, () => ctx.edit(c)), remove(ctx, `notification-channels/${c.id}`, c, 'notification channel')],
  form: (c, ctx) => ({
    id: 'channel-form', title: c ? `Edit channel ${c.name}` : 'New notification channel', submitLabel: c ? 'Save channel' : 'Create channel',
    fields: [
      { name: 'name', label: 'Name', value: c?.name },
      { name: 'type', label: 'Type', type: 'select', options: TYPES.map((t) => [t, t]), value: c?.type || 'webhook' },
      { name: 'url', label: 'URL', value: c?.url || '', show: (v) => v.type !== 'email', attrs: { type: 'url' },
        hint: c && ['discord', 'slack'].includes(c.type) ? 'shown without its secret part; leave as is to keep the stored webhook' : null },
      { name: 'token', label: c?.has_token ? 'Token (set; empty keeps it)' : 'Token', type: 'password', show: (v) => ['gotify', 'telegram', 'matrix', 'email'].includes(v.type),
        attrs: { autocomplete: 'new-password' } },
      { name: 'secret', label: c?.has_secret ? 'Signing secret (set; empty keeps it)' : 'Signing secret', type: 'password', show: (v) => v.type === 'webhook',
        attrs: { autocomplete: 'new-password' }, hint: 'optional: the webhook body is signed with it' },
      { name: 'config.smtp_host', label: 'SMTP host', value: c?.config?.smtp_host || '', show: usesConfig('smtp_host') },
      { name: 'config.smtp_port', label: 'SMTP port', type: 'number', value: c?.config?.smtp_port || '', show: usesConfig('smtp_port') },
      { name: 'config.smtp_security', label: 'SMTP security', type: 'select', options: [['starttls', 'STARTTLS'], ['tls', 'TLS']], value: c?.config?.smtp_security || 'starttls', show: usesConfig('smtp_security') },
      { name: 'config.username', label: 'SMTP user', value: c?.config?.username || '', show: usesConfig('username') },
      { name: 'config.from', label: 'From', value: c?.config?.from || '', show: usesConfig('from') },
      { name: 'config.to', label: 'To (comma-separated)', value: (c?.config?.to || []).join(', '), show: usesConfig('to') },
      { name: 'config.chat_id', label: 'Chat id', value: c?.config?.chat_id || '', show: usesConfig('chat_id') },
      { name: 'config.room_id', label: 'Room id', value: c?.config?.room_id || '', show: usesConfig('room_id') },
      { name: 'min_severity', label: 'Minimum severity', type: 'select', options: [['warning', 'warning'], ['critical', 'critical'], ['info', 'info']], value: c?.min_severity || 'warning' },
      { name: 'rate_per_minute', label: 'At most per minute', type: 'number', value: c?.rate_per_minute ?? 30 },
      { name: 'enabled', label: 'Enabled', type: 'checkbox', value: c ? c.enabled : true },
    ],
    onSubmit: (v) => {
      const b = { name: v.name, type: v.type, min_severity: v.min_severity, enabled: v.enabled, rate_per_minute: numOrNull(v.rate_per_minute) };
      // A stored URL that is a credential is shown redacted: sent back only when changed.
      if ('url' in v && (c ? v.url !== c.url : v.url !== '')) b.url = v.url;
      if (v.token) b.token = v.token;
      if (v.secret) b.secret = v.secret;
      const cfg = {};
      for (const k of CONFIG[v.type] || []) {
        const x = v['config.' + k];
        if (x === '' || x === undefined) continue;
        cfg[k] = k === 'smtp_port' ? Number(x) : k === 'to' ? x.split(',').map((s) => s.trim()).filter(Boolean) : x;
      }
      if (CONFIG[v.type]) b.config = cfg;
      return save(ctx, 'notification-channels', c, b, 'notification channel');
    },
  }),
});

// ------------------------------------------------------------------------------------------- maintenance windows

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const iso = (local) => (local ? new Date(local).toISOString() : undefined);

export const windowsPage = adminPage({
  title: 'Maintenance windows', path: 'maintenance-windows', id: 'windows-table', load: devicesAndChannels,
  empty: 'No maintenance windows. Alerts of a device in a window are held back; create one with the form above (admins).',
  columns: (ctx) => [['Name', (w) => w.name], ['Applies to', (w) => (w.tag ? `tag ${w.tag}` : w.device_id ? deviceName(ctx, w.device_id) : '')],
    ['When', (w) => (w.starts_at ? [ago(w.starts_at), ' → ', ago(w.ends_at)]
      : `${(w.weekdays?.length ? w.weekdays.map((d) => WEEKDAYS[d]).join(', ') : 'daily')} at ${w.start_time} for ${w.duration}`)],
    ['Zone', (w) => w.time_zone]],
  actions: (w, ctx) => (can('admin') ? [button('Edit', w, () => ctx.edit(w)), remove(ctx, `maintenance-windows/${w.id}`, w, 'maintenance window')] : []),
  // An edit sends the whole form: the API clears the fields of the other target (device or tag) and of the other
  // kind (once or recurring) itself, so switching kinds needs nothing more here.
  form: (w, ctx) => ({
    id: 'window-form', title: w ? `Edit maintenance window ${w.name}` : 'New maintenance window', submitLabel: w ? 'Save window' : 'Create window',
    fields: [
      { name: 'name', label: 'Name', value: w?.name },
      { name: 'target', label: 'Applies to', type: 'select', options: [['device_id', 'one device'], ['tag', 'devices with a tag']], value: w?.tag ? 'tag' : 'device_id' },
      { name: 'device_id', label: 'Device', type: 'select', options: deviceOptions(ctx), value: w?.device_id || '', show: (v) => v.target === 'device_id' },
      { name: 'tag', label: 'Tag', value: w?.tag || '', show: (v) => v.target === 'tag' },
      { name: 'mode', label: 'Kind', type: 'select', options: [['recurring', 'recurring'], ['once', 'once']], value: w?.starts_at ? 'once' : 'recurring' },
      { name: 'starts_at', label: 'Starts', type: 'datetime-local', value: localInput(w?.starts_at), show: (v) => v.mode === 'once' },
      { name: 'ends_at', label: 'Ends', type: 'datetime-local', value: localInput(w?.ends_at), show: (v) => v.mode === 'once' },
      { name: 'start_time', label: 'Starts at (HH:MM)', type: 'time', value: w?.start_time || '', show: (v) => v.mode === 'recurring' },
      { name: 'duration', label: 'Lasts', hint: 'e.g. 2h', value: w?.duration || '', show: (v) => v.mode === 'recurring' },
      { name: 'weekdays', label: 'On (none: every day)', type: 'checks', options: WEEKDAYS.map((d, i) => [i, d]), value: w?.weekdays || [], show: (v) => v.mode === 'recurring' },
      { name: 'time_zone', label: 'Time zone', value: w ? w.time_zone : localZone() },
    ],
    onSubmit: (v) => {
      const b = { name: v.name, time_zone: v.time_zone };
      if (v.target === 'tag') b.tag = v.tag; else if (v.device_id) b.device_id = v.device_id;
      if (v.mode === 'once') {
        if (v.starts_at) b.starts_at = iso(v.starts_at);
        if (v.ends_at) b.ends_at = iso(v.ends_at);
      } else {
        b.start_time = v.start_time;
        if (v.duration) b.duration = v.duration;
        // On an edit no day ticked means every day, so the empty list is sent to clear the stored days.
        if (v.weekdays.length || w) b.weekdays = v.weekdays.map(Number);
      }
      return save(ctx, 'maintenance-windows', w, b, 'maintenance window');
    },
  }),
});

// ----------------------------------------------------------------------------------------------------- schedules

const ACTION_TYPES = [['container', 'container action'], ['compose_update', 'compose update (pull and up)'], ['image_prune', 'prune unused images'], ['zfs_scrub', 'ZFS scrub']];
const CONTAINER_ACTIONS = ['restart', 'start', 'stop', 'pause', 'unpause', 'kill', 'remove'];

function describeAction(s, ctx) {
  const a = s.action || {};
  const on = a.tag ? `devices tagged ${a.tag}` : deviceName(ctx, a.device_id);
  const what = { container: `${a.action} ${a.container}`, compose_update: `compose update ${a.project || (a.only_with_updates ? 'of projects with updates' : '')}`,
    image_prune: 'image prune', zfs_scrub: `scrub ${a.pool === '*' ? 'every pool' : a.pool}` }[a.type] || a.type;
  return `${what} on ${on}`;
}

export const schedulesPage = adminPage({
  title: 'Schedules', path: 'schedules', id: 'schedules-table', load: devicesAndChannels,
  empty: 'No schedules. Create one with the form above (admins): a container action, a compose update, an image prune or a ZFS scrub, by cron or interval.',
  columns: (ctx) => [['Name', (s) => s.name], ['Does', (s) => describeAction(s, ctx)],
    ['When', (s) => (s.spec?.cron ? h('span', { class: 'mono' }, s.spec.cron) : `every ${s.spec?.every}`)],
    ['Next run', (s) => (s.temporal?.next_runs?.length ? ago(s.temporal.next_runs[0]) : '')],
    ['State', (s) => h('span', { 'data-paused': String(Boolean(s.paused)) }, badge(s.paused ? 'paused' : 'active'))],
    ['Temporal', (s) => (s.temporal_ui ? h('a', { href: s.temporal_ui, target: '_blank', rel: 'noopener noreferrer' }, 'schedule') : '')]],
  actions: (s, ctx) => {
    const post = (label, what, done) => button(label, s, async () => {
      try { await api('POST', `schedules/${s.id}/${what}`, {}); ctx.say(`${s.name}: ${done}`); ctx.reload(); } catch (err) { ctx.say(`${label} ${s.name}: ${err.message}`, 'error'); }
    });
    return [
      can('operate') ? post('Trigger', 'trigger', 'triggered; its run is recorded in Temporal and on the device\'s operations') : null,
      can('operate') ? (s.paused ? post('Resume', 'resume', 'resumed') : post('Pause', 'pause', 'paused')) : null,
      can('admin') ? button('Edit', s, () => ctx.edit(s)) : null,
      can('admin') ? remove(ctx, `schedules/${s.id}`, s, 'schedule') : null,
    ].filter(Boolean);
  },
  // An edit changes name, spec, action and overlap (PATCH); pausing stays with the Pause and Resume buttons.
  form: (s, ctx) => ({
    id: 'schedule-form', title: s ? `Edit schedule ${s.name}` : 'New schedule', submitLabel: s ? 'Save schedule' : 'Create schedule',
    fields: [
      { name: 'name', label: 'Name', value: s?.name },
      { name: 'when', label: 'Runs', type: 'select', options: [['cron', 'by cron expression'], ['every', 'at an interval']], value: s?.spec?.every ? 'every' : 'cron' },
      { name: 'spec.cron', label: 'Cron', hint: 'e.g. 0 3 * * * (03:00 daily)', value: s?.spec?.cron || '', show: (v) => v.when === 'cron' },
      { name: 'spec.every', label: 'Every', hint: 'e.g. 6h', value: s?.spec?.every || '', show: (v) => v.when === 'every' },
      { name: 'spec.offset', label: 'Offset', hint: 'optional, e.g. 30m', value: s?.spec?.offset || '', show: (v) => v.when === 'every' },
      { name: 'spec.time_zone', label: 'Time zone', value: s ? s.spec?.time_zone || '' : localZone() },
      { name: 'action.type', label: 'Action', type: 'select', options: ACTION_TYPES, value: s?.action?.type },
      { name: 'target', label: 'On', type: 'select', options: [['device_id', 'one device'], ['tag', 'devices with a tag']], value: s?.action?.tag ? 'tag' : 'device_id' },
      { name: 'action.device_id', label: 'Device', type: 'select', options: deviceOptions(ctx), value: s?.action?.device_id || '', show: (v) => v.target === 'device_id' },
      { name: 'action.tag', label: 'Tag', value: s?.action?.tag || '', show: (v) => v.target === 'tag' },
      { name: 'action.container', label: 'Container', value: s?.action?.container || '', show: (v) => v['action.type'] === 'container' },
      { name: 'action.action', label: 'Container action', type: 'select', options: CONTAINER_ACTIONS.map((a) => [a, a]), value: s?.action?.action || undefined, show: (v) => v['action.type'] === 'container' },
      { name: 'action.project', label: 'Compose project', hint: 'empty with "only with updates": every project with image updates', value: s?.action?.project || '', show: (v) => v['action.type'] === 'compose_update' },
      { name: 'action.only_with_updates', label: 'Only with image updates', type: 'checkbox', value: s?.action?.only_with_updates, show: (v) => v['action.type'] === 'compose_update' },
      { name: 'action.pool', label: 'Pool', value: s?.action?.pool || '*', hint: '* scrubs every pool of the device', show: (v) => v['action.type'] === 'zfs_scrub' },
      { name: 'action.concurrency', label: 'Devices at a time', type: 'number', value: s?.action?.concurrency || 1, show: (v) => v.target === 'tag' },
      { name: 'action.stop_on_failure', label: 'Stop at the first failure', type: 'checkbox', value: s ? s.action?.stop_on_failure : true, show: (v) => v.target === 'tag' },
      { name: 'overlap', label: 'When the last run is still going', type: 'select', options: [['skip', 'skip'], ['buffer_one', 'run once after it'], ['allow_all', 'run anyway'], ['cancel_other', 'cancel it']], value: s?.overlap },
      { name: 'paused', label: 'Create paused', type: 'checkbox', show: () => !s },
    ],
    onSubmit: (v) => {
      const spec = { time_zone: v['spec.time_zone'] || undefined };
      if (v.when === 'cron') spec.cron = v['spec.cron']; else { spec.every = v['spec.every']; if (v['spec.offset']) spec.offset = v['spec.offset']; }
      const action = { type: v['action.type'] };
      if (v.target === 'tag') {
        action.tag = v['action.tag'];
        action.concurrency = numOrNull(v['action.concurrency']) || 1;
        action.stop_on_failure = v['action.stop_on_failure'];
      } else if (v['action.device_id']) action.device_id = v['action.device_id'];
      if (action.type === 'container') { action.container = v['action.container']; action.action = v['action.action']; }
      if (action.type === 'compose_update') {
        if (v['action.project']) action.project = v['action.project'];
        if (v['action.only_with_updates']) action.only_with_updates = true;
      }
      if (action.type === 'zfs_scrub') action.pool = v['action.pool'];
      const body = { name: v.name, spec, action, overlap: v.overlap };
      if (!s) body.paused = v.paused;
      return save(ctx, 'schedules', s, body, 'schedule');
    },
  }),
});
