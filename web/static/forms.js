// Forms of the admin pages: fields named by their API field path ("spec.cron", "config.smtp_host"), each with a slot
// beside it where the server's validation message for that field is shown. The server is the one validator (the
// forms use novalidate), so what the page says about a field is what the API says, in the API's own words.
import { h } from './lib.js';

const idOf = (prefix, name) => `${prefix}-${name.replace(/[^a-z0-9_-]/gi, '-')}`;

/**
 * makeForm builds a form from field specs: {name, label, type ('text', 'number', 'password', 'time', 'datetime-local',
 * 'select', 'checkbox', 'checks'), options [[value, label]], value, hint, show(values) => bool, attrs}. Fields whose
 * show() is false are hidden and left out of values(). onSubmit(values) may throw an ApiError; its fields are shown
 * at their inputs.
 */
export function makeForm({ id, title, fields, submitLabel, onSubmit, onCancel }) {
  const general = h('p', { class: 'error', role: 'alert', id: id + '-error' });
  const wraps = new Map();
  const controls = new Map();
  const rows = fields.map((f) => {
    const fid = idOf(id, f.name);
    const err = h('span', { class: 'field-error', id: fid + '-error', 'data-error-for': f.name });
    const hint = f.hint ? h('span', { class: 'hint muted', id: fid + '-hint' }, f.hint) : null;
    const described = [err.id, hint ? hint.id : null].filter(Boolean).join(' ');
    let control, wrap;
    if (f.type === 'checks') {
      const boxes = f.options.map(([v, l]) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: v,
        checked: (f.value || []).map(String).includes(String(v)) }), ' ', l));
      control = h('fieldset', { id: fid, 'aria-describedby': described }, h('legend', {}, f.label),
        boxes.length ? boxes : h('span', { class: 'muted' }, f.empty || 'none'));
      wrap = h('div', { class: 'field wide', 'data-field': f.name }, control, hint, err);
    } else {
      if (f.type === 'select') {
        control = h('select', { id: fid, name: f.name, 'aria-describedby': described, ...f.attrs },
          f.options.map(([v, l]) => h('option', { value: v }, l)));
        control.value = f.value ?? f.options[0]?.[0] ?? '';
      } else if (f.type === 'checkbox') {
        control = h('input', { id: fid, name: f.name, type: 'checkbox', checked: Boolean(f.value), 'aria-describedby': described, ...f.attrs });
      } else {
        control = h('input', { id: fid, name: f.name, type: f.type || 'text', autocomplete: 'off', spellcheck: 'false',
          'aria-describedby': described, ...f.attrs });
        control.value = f.value ?? '';
      }
      wrap = f.type === 'checkbox'
        ? h('div', { class: 'field check', 'data-field': f.name }, h('label', { for: fid }, control, ' ', f.label), hint, err)
        : h('div', { class: 'field', 'data-field': f.name }, h('label', { for: fid }, f.label), control, hint, err);
    }
    wraps.set(f.name, wrap);
    controls.set(f.name, control);
    return wrap;
  });
  const submit = h('button', { type: 'submit' }, submitLabel);
  const form = h('form', { id, class: 'admin-form', novalidate: true }, h('div', { class: 'fields' }, rows),
    h('div', { class: 'row' }, submit, onCancel ? h('button', { type: 'button', class: 'secondary', onclick: onCancel }, 'Cancel') : null),
    general);

  function read(f) {
    const c = controls.get(f.name);
    if (f.type === 'checks') return [...c.querySelectorAll('input:checked')].map((x) => x.value);
    if (f.type === 'checkbox') return c.checked;
    return c.value.trim();
  }
  function all() {
    const v = {};
    for (const f of fields) v[f.name] = read(f);
    return v;
  }
  /** values returns the visible fields' values by name. */
  function values() {
    const v = all();
    for (const f of fields) if (f.show && !f.show(v)) delete v[f.name];
    return v;
  }
  function toggle() {
    const v = all();
    for (const f of fields) if (f.show) wraps.get(f.name).hidden = !f.show(v);
  }
  function clear() {
    general.textContent = '';
    for (const e of form.querySelectorAll('.field-error')) e.textContent = '';
    for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  }
  /** showErrors puts each of the server's field messages beside its field; what has no field here goes on top. */
  function showErrors(err) {
    clear();
    if (!err.fields) { general.textContent = err.message; return; }
    const rest = [];
    let first = null;
    for (const [k, msg] of Object.entries(err.fields)) {
      // A message about a whole object ("spec") goes to its first visible field ("spec.cron").
      const name = wraps.has(k) && !wraps.get(k).hidden ? k
        : [...wraps.keys()].find((n) => n.startsWith(k + '.') && !wraps.get(n).hidden) || (wraps.has(k) ? k : null);
      if (!name) { rest.push(`${k}: ${msg}`); continue; }
      const slot = wraps.get(name).querySelector('.field-error');
      slot.textContent = slot.textContent ? `${slot.textContent}; ${msg}` : msg;
      controls.get(name).setAttribute('aria-invalid', 'true');
      first = first || controls.get(name);
    }
    general.textContent = rest.length ? `The server refused: ${rest.join('; ')}` : 'The server refused some fields; see the messages beside them.';
    (first?.querySelector?.('input') || first)?.focus();
  }
  form.addEventListener('change', toggle);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear();
    submit.disabled = true;
    try { await onSubmit(values()); } catch (err) { showErrors(err); } finally { submit.disabled = false; }
  });
  toggle();
  const el = h('section', { class: 'card editor', 'aria-labelledby': id + '-title' }, h('h2', { id: id + '-title' }, title), form);
  return { el, form, values, showErrors };
}

/** num turns a form value into a number, or null when left empty. */
export const numOrNull = (v) => (v === '' || v === undefined ? null : Number(v));

/** localInput turns an RFC 3339 time into the value of a datetime-local input, in the viewer's zone. */
export function localInput(t) {
  if (!t) return '';
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
