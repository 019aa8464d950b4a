// One payment: its status and amounts, the reason of a rejection in words with the element that caused it, the
// sequence diagram of every message across debtor agent, rail and creditor agent, and each message as the rail
// received or sent it, XML and JSON side by side (both renderings come from the rail's own codecs: the page never
// converts one into the other). Refreshed while the payment is still in flight.

import {get} from './api.js';
import {clear, copyText, errorBox, h} from './dom.js';
import {readCommand, resendCommand} from './curl.js';
import {rupees, shortType, statusBadge, when} from './format.js';
import {sequenceDiagram} from './sequence.js';

const POLL_MS = 1500;

function pretty(json) {
  if (json === null || json === undefined) return null;
  if (typeof json !== 'string') return JSON.stringify(json, null, 2);
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

/** The message in both renderings: what the rail sent or received, and the other from the rail's codec. */
function renderingsOf(message) {
  const xml = message.xml ?? (message.rendering === 'xml' ? message.body : null);
  const json = message.json ?? (message.rendering === 'json' ? message.body : null);
  return {xml: typeof xml === 'string' ? xml : null, json: pretty(json)};
}

function pane(title, text, lang) {
  return h('div', {class: 'rendering'}, h('h4', {}, title),
    text === null
      ? h('p', {class: 'hint'}, 'Not available in this rendering (the message was not readable as ISO 20022).')
      : h('pre', {class: 'body', 'data-rendering': lang, tabindex: 0, 'aria-label': `${title} of the message`}, text));
}

function curlBox(label, command) {
  const area = h('textarea', {class: 'curl', readonly: true, hidden: true, 'aria-label': `${label} command`});
  const button = h('button', {type: 'button', class: 'secondary'}, label);
  button.addEventListener('click', () => copyText(command, area));
  return [button, area];
}

function messageArticle(message, index, first) {
  const {xml, json} = renderingsOf(message);
  const sent = message.rendering === 'json' ? 'JSON' : 'XML';
  const direction = message.direction === 'in' ? 'received by the rail' : 'sent by the rail';
  const facts = [
    `${message.sender} → ${message.receiver}`, direction, when(message.at),
    message.http_status ? `HTTP ${message.http_status}` : null,
    message.duration_ms !== null && message.duration_ms !== undefined ? `answered in ${message.duration_ms} ms` : null,
    `as ${sent}`,
  ].filter(Boolean);
  const actions = h('div', {class: 'actions'});
  if (message.direction === 'in' && (message.rendering === 'json' ? json : xml)) {
    const body = message.rendering === 'json' ? (typeof message.body === 'string' ? message.body : json) : xml;
    actions.append(...curlBox('Copy as curl (resend)', resendCommand(location.origin, message, body)));
  }
  return h('article', {class: 'message', id: `message-${message.seq}`, tabindex: -1, 'data-msg-type': message.msg_type},
    h('header', {},
      h('h3', {}, `${index + 1}. ${shortType(message.msg_type)}`, h('span', {class: 'meta'}, ` ${message.msg_type}`)),
      message.reason ? h('span', {class: 'badge bad'}, message.reason) : null,
      h('span', {class: 'meta'}, facts.join(' · '))),
    message.element_path ? h('p', {}, 'Element: ', h('code', {}, message.element_path)) : null,
    h('div', {class: 'renderings'}, pane('XML', xml, 'xml'), pane('JSON', json, 'json')),
    actions);
}

function explained(trace, payment, messages) {
  const rejecting = messages.find(m => m.reason && m.reason === payment.reason) || messages.find(m => m.reason);
  const code = payment.reason || (rejecting && rejecting.reason);
  if (!code) return null;
  const words = trace.reason_explained;
  const text = typeof words === 'string' ? words : (words && (words.text || words.name)) || payment.reason_text;
  const element = (words && typeof words === 'object' && words.element_path) || (rejecting && rejecting.element_path);
  return h('section', {class: 'reason', id: 'reason', 'aria-labelledby': 'reason-title'},
    h('h2', {id: 'reason-title'}, 'Why: ', h('span', {class: 'code'}, code)),
    h('p', {id: 'reason-text'}, text || 'No explanation is known for this code.'),
    payment.reason_text && payment.reason_text !== text ? h('p', {}, 'The rail said: ', payment.reason_text) : null,
    element ? h('p', {}, 'Element that caused it: ', h('code', {id: 'reason-element'}, element)) : null,
    rejecting ? h('p', {class: 'meta'}, `Carried by ${shortType(rejecting.msg_type)} from ${rejecting.sender}.`) : null);
}

function summary(payment) {
  const rows = [
    ['Status', statusBadge(payment.status)],
    ['Amount', `${rupees(payment.amount_paisa)}${payment.returned_paisa ? `, returned ${rupees(payment.returned_paisa)}` : ''}`],
    ['Debtor agent → creditor agent', `${payment.debtor_agent} → ${payment.creditor_agent}`],
    ['EndToEndId', h('span', {class: 'mono'}, payment.end_to_end_id || '')],
    ['TxId / MsgId', h('span', {class: 'mono'}, `${payment.tx_id || ''} / ${payment.msg_id || ''}`)],
    ['Received', when(payment.received_at)],
    ['Final', payment.final_at ? when(payment.final_at) : 'not yet: waiting for the creditor agent'],
  ];
  return h('dl', {class: 'summary'}, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function draw(box, uetr, payment, trace, current) {
  const messages = [...(trace.messages || [])].sort((a, b) => a.seq - b.seq);
  const rail = messages.find(m => m.direction === 'out');
  const width = Math.max(320, Math.floor(box.clientWidth || 900));
  const pick = m => {
    const target = document.getElementById(`message-${m.seq}`);
    if (target) { target.scrollIntoView({block: 'start'}); target.focus({preventScroll: true}); }
  };
  const whose = current.kind === 'admin' ? 'the admin token' : `the token of ${current.bic}`;
  const path = `/v1/payments/${encodeURIComponent(uetr)}/messages`;
  box.replaceChildren(
    summary(payment),
    explained(trace, payment, messages) || '',
    h('div', {class: 'actions'}, ...curlBox('Copy as curl (this trace)', readCommand(location.origin, path, whose))),
    h('h2', {}, 'Timeline'),
    messages.length
      ? h('figure', {}, sequenceDiagram({payment, messages, railBic: rail && rail.sender, width, onPick: pick}),
        h('figcaption', {}, 'Each arrow is a message; choose one to see it below. Times from the first message.'))
      : h('p', {class: 'hint'}, current.kind === 'admin' ? 'No message of this payment is kept (retention).'
        : 'No message of this payment on your side is kept.'),
    h('h2', {}, `Messages (${messages.length})`),
    ...messages.map((m, i) => messageArticle(m, i, messages[0])));
}

export async function render(main, route) {
  const uetr = route.arg;
  const box = h('div', {id: 'payment'});
  const problem = h('div');
  main.append(h('p', {}, h('a', {href: '#/payments'}, '← Payments')),
    h('h1', {}, 'Payment ', h('span', {class: 'mono', id: 'uetr'}, uetr)), problem, box);
  let stopped = false, timer = null, lastStatus = null;
  const load = async () => {
    try {
      const enc = encodeURIComponent(uetr);
      const [payment, trace] = await Promise.all([get(`/v1/payments/${enc}`), get(`/v1/payments/${enc}/messages`)]);
      if (stopped) return;
      clear(problem);
      if (payment.status !== lastStatus || payment.status === 'ACTC') draw(box, uetr, payment, trace, route.session);
      lastStatus = payment.status;
      box.dataset.status = payment.status;
      if (payment.status === 'ACTC') timer = setTimeout(load, POLL_MS);
    } catch (error) {
      if (!stopped) problem.replaceChildren(errorBox(error));
    }
  };
  await load();
  return () => { stopped = true; clearTimeout(timer); };
}
