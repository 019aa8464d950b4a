// A payment's timeline as a sequence diagram (SVG): one lifeline each for the debtor agent, the rail and the
// creditor agent, one arrow per message in the order the rail saw them. Drawn at the width it is given (so its
// text keeps its size on a phone); each arrow is a keyboard stop that shows its message below.

import {s} from './dom.js';
import {shortType} from './format.js';

const HEAD = 46, ROW = 46, FONT = 12;

function laneOf(bic, payment) {
  if (bic && bic === payment.debtor_agent) return 0;
  if (bic && bic === payment.creditor_agent) return 2;
  return 1;
}

function label(message) {
  return [shortType(message.msg_type), message.status, message.reason].filter(Boolean).join(' ');
}

// The line under an arrow: when, from the first message, and the HTTP status of its exchange.
function offsetText(message, first) {
  const t = Date.parse(message.at), t0 = Date.parse(first.at);
  const parts = [];
  if (!Number.isNaN(t) && !Number.isNaN(t0)) parts.push(t - t0 < 1000 ? `+${t - t0} ms` : `+${((t - t0) / 1000).toFixed(2)} s`);
  if (message.http_status) parts.push(`HTTP ${message.http_status}`);
  return parts.join(' · ');
}

function lanes(payment, railBic, xs) {
  const roles = [['Debtor agent', payment.debtor_agent], ['Rail', railBic || 'the rail'],
    ['Creditor agent', payment.creditor_agent]];
  return roles.map(([role, bic], i) => s('g', {},
    s('rect', {x: xs[i] - 52, y: 4, width: 104, height: 36, rx: 4, fill: i === 1 ? '#e8f1f8' : '#f6f6f6',
      stroke: i === 1 ? '#0072B2' : '#999'}),
    s('text', {x: xs[i], y: 19, 'text-anchor': 'middle', 'font-size': FONT, 'font-weight': 600, fill: '#1b1b1b'}, role),
    s('text', {x: xs[i], y: 34, 'text-anchor': 'middle', 'font-size': 11, fill: '#444'}, bic || '?')));
}

function arrow(message, i, first, payment, xs, onPick) {
  const from = message.direction === 'out' ? 1 : laneOf(message.sender, payment);
  const to = message.direction === 'out' ? laneOf(message.receiver, payment) : 1;
  const y = HEAD + i * ROW + 30;
  const [x1, x2] = [xs[from], xs[to]];
  const rightward = x2 >= x1;
  const tip = rightward ? x2 - 2 : x2 + 2;
  const head = rightward ? `${tip - 8},${y - 5} ${tip},${y} ${tip - 8},${y + 5}` : `${tip + 8},${y - 5} ${tip},${y} ${tip + 8},${y + 5}`;
  const failed = message.reason || message.status === 'RJCT' || (message.http_status && message.http_status >= 400);
  const colour = failed ? '#D55E00' : '#0072B2';
  const mid = (x1 + x2) / 2;
  const group = s('g', {class: 'arrow', tabindex: 0, role: 'link', 'data-seq': message.seq,
    'aria-label': `${i + 1}: ${label(message)} from ${message.sender} to ${message.receiver}, ${offsetText(message, first)}`},
  s('rect', {class: 'hit', x: Math.min(x1, x2), y: y - 24, width: Math.max(8, Math.abs(x2 - x1)), height: 34, fill: 'transparent'}),
  s('text', {x: mid, y: y - 7, 'text-anchor': 'middle', 'font-size': FONT, fill: colour, 'font-weight': 600}, label(message)),
  s('line', {x1, x2: tip, y1: y, y2: y, stroke: colour, 'stroke-width': 2}),
  s('polygon', {points: head, fill: colour}),
  s('text', {x: mid, y: y + 14, 'text-anchor': 'middle', 'font-size': 10, fill: '#555'}, offsetText(message, first)));
  group.addEventListener('click', () => onPick(message));
  group.addEventListener('keydown', event => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      onPick(message);
    }
  });
  return group;
}

/** The diagram of `messages` (in order) of `payment`; `onPick(message)` when an arrow is chosen. */
export function sequenceDiagram({payment, messages, railBic, width, onPick}) {
  const margin = 58;
  const xs = [margin, width / 2, width - margin];
  const height = HEAD + Math.max(1, messages.length) * ROW + 10;
  const title = `Sequence of ${messages.length} message${messages.length === 1 ? '' : 's'} between the debtor `
    + `agent ${payment.debtor_agent}, the rail and the creditor agent ${payment.creditor_agent}`;
  return s('svg', {class: 'chart sequence', role: 'group', 'aria-label': title, width, height,
    viewBox: `0 0 ${width} ${height}`},
  s('title', {}, title),
  ...xs.map(x => s('line', {x1: x, x2: x, y1: 40, y2: height - 4, stroke: '#bbb', 'stroke-dasharray': '4 4'})),
  ...lanes(payment, railBic, xs),
  ...messages.map((m, i) => arrow(m, i, messages[0], payment, xs, onPick)));
}
