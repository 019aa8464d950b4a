// Building the page without markup strings: every text goes in as a text node, every attribute through
// setAttribute, so nothing a message holds (a remittance text, a name, an error's detail) is ever parsed as HTML.
// No HTML parsing of data anywhere in the workbench (tests/test_workbench_assets.py checks).

const SVG_NS = 'http://www.w3.org/2000/svg';

function setAttributes(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else el.setAttribute(name === 'className' ? 'class' : name, value === true ? '' : String(value));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h('a', {href: '#/x'}, 'text', otherNode). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  return append(el, children);
}

/** An SVG element, the same way. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttributes(el, attrs);
  return append(el, children);
}

/** Go to a route of the page (shown again when it is the current one). */
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** A labelled form field; `control` gets the id the label points at. */
export function field(label, control, {wide = false, hint = null} = {}) {
  if (!control.id) control.id = 'f-' + Math.random().toString(36).slice(2, 9);
  const parts = [h('label', {for: control.id}, label), control];
  if (hint) {
    const hintId = control.id + '-hint';
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('span', {class: 'hint', id: hintId}, hint));
  }
  return h('div', {class: wide ? 'field wide' : 'field'}, parts);
}

/** A select with `options`: [value, text] pairs. */
export function select(name, options, selected = '') {
  return h('select', {name},
    options.map(([value, text]) => h('option', {value, selected: String(value) === String(selected)}, text)));
}

/** A message in the page's toast (a polite live region): screen readers announce it. */
export function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.textContent = ''; }, 4000);
}

/** A box saying what went wrong, in the error's own words. */
export function errorBox(error) {
  return h('div', {class: 'error', role: 'alert'}, error && error.message ? error.message : String(error));
}

/** A table; `columns`: [{label, cell: row => node|text, num}]; narrow screens show one card per row. */
export function table(caption, columns, rows, attrs = {}) {
  const head = h('tr', {}, columns.map(c => h('th', {scope: 'col', class: c.num ? 'num' : null}, c.label)));
  const body = rows.map(row => h('tr', {},
    columns.map(c => h('td', {'data-label': c.label, class: c.num ? 'num' : null}, c.cell(row)))));
  return h('div', {class: 'table-wrap'},
    h('table', {class: 'cards-narrow', ...attrs}, caption ? h('caption', {}, caption) : null,
      h('thead', {}, head), h('tbody', {}, body)));
}

/** Copy `text` to the clipboard; where the browser refuses, select it in `fallback` (a textarea) instead. */
export async function copyText(text, fallback) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard');
  } catch {
    if (fallback) {
      fallback.hidden = false;
      fallback.value = text;
      fallback.focus();
      fallback.select();
      toast('Selected: press Ctrl+C (Cmd+C) to copy');
    }
  }
}
