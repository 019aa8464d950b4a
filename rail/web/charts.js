// Small inline-SVG charts, no library: a line chart of what the overview polls, and settlement balances as
// stacked bars. Drawn at the width they are given (the container's), so text keeps its size on a phone.

import {h, s} from './dom.js';
import {rupees, rupeesShort} from './format.js';

const FONT = 11;

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find(m => m * power >= value);
  return step * power;
}

function text(x, y, content, attrs = {}) {
  return s('text', {x, y, 'font-size': FONT, fill: '#444', ...attrs}, content);
}

/** A line per series over time. `series`: [{name, color, points: [[t_ms, value]]}]; `format`: a value's text. */
export function lineChart({title, width, height = 170, series, format, windowMs}) {
  const left = 58, right = 10, top = 10, bottom = 22;
  const now = Math.max(Date.now(), ...series.flatMap(x => x.points.map(p => p[0])));
  const from = now - windowMs;
  const max = niceMax(Math.max(0, ...series.flatMap(x => x.points.map(p => Number(p[1]) || 0))));
  const x = t => left + ((t - from) / windowMs) * (width - left - right);
  const y = v => top + (1 - v / max) * (height - top - bottom);
  const grid = [0, max / 2, max].map(v => s('g', {},
    s('line', {x1: left, x2: width - right, y1: y(v), y2: y(v), stroke: '#e5e5e5'}),
    text(left - 6, y(v) + 4, format(v), {'text-anchor': 'end'})));
  const lines = series.filter(x_ => x_.points.length).map(line => s('polyline', {
    fill: 'none', stroke: line.color, 'stroke-width': 2, 'stroke-linejoin': 'round',
    points: line.points.filter(p => p[0] >= from).map(p => `${x(p[0]).toFixed(1)},${y(Number(p[1]) || 0).toFixed(1)}`).join(' '),
  }));
  const minutes = Math.round(windowMs / 60000);
  return s('svg', {class: 'chart', role: 'img', 'aria-label': title, width, height, viewBox: `0 0 ${width} ${height}`},
    s('title', {}, title), ...grid,
    s('line', {x1: left, x2: width - right, y1: y(0), y2: y(0), stroke: '#999'}),
    text(left, height - 6, `${minutes} min ago`),
    text(width - right, height - 6, 'now', {'text-anchor': 'end'}),
    ...lines);
}

export function legend(items) {
  return h('div', {class: 'legend'}, items.map(([colorClass, name]) =>
    h('span', {}, h('span', {class: `swatch ${colorClass}`, 'aria-hidden': 'true'}), name)));
}

/** Each participant's settlement account: available funds and reserved (in flight) stacked to the posted balance. */
export function balanceBars({title, width, rows}) {
  const rowHeight = 24, labelWidth = 78, valueWidth = 84, top = 4;
  const height = top + rows.length * rowHeight + 4;
  const max = niceMax(Math.max(1, ...rows.map(r => Number(r.posted) || 0)));
  const span = Math.max(40, width - labelWidth - valueWidth - 8);
  const scale = v => (Math.max(0, Number(v) || 0) / max) * span;
  const bars = rows.map((r, i) => {
    const y = top + i * rowHeight;
    const available = scale(r.available), reserved = scale(r.reserved);
    return s('g', {},
      s('title', {}, `${r.bic}: posted ${rupees(r.posted)}, reserved ${rupees(r.reserved)}, `
        + `available ${rupees(r.available)}`),
      text(0, y + 15, r.bic, {'font-size': 12, fill: '#1b1b1b'}),
      s('rect', {x: labelWidth, y: y + 4, width: available.toFixed(1), height: rowHeight - 8, fill: '#0072B2'}),
      s('rect', {x: (labelWidth + available).toFixed(1), y: y + 4, width: reserved.toFixed(1),
        height: rowHeight - 8, fill: '#E69F00'}),
      text(width - 2, y + 15, rupeesShort(r.posted), {'text-anchor': 'end'}));
  });
  return s('svg', {class: 'chart', role: 'img', 'aria-label': title, width, height, viewBox: `0 0 ${width} ${height}`},
    s('title', {}, title), ...bars);
}
