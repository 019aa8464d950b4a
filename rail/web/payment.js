// One payment: its status and amount, the reason of a rejection in words with the element that caused it, the
// sequence diagram of every message across debtor agent, rail and creditor agent, and each message XML and JSON
// side by side. Both renderings come from the rail (POST /v1/render: its own lossless converter); the page never
// converts one into the other. The bytes as sent are shown too. Refreshed while the payment is in flight.

import {get, postRaw} from './api.js';
import {clear, copyText, errorBox, h} from './dom.js';
import {readCommand, resendCommand} from './curl.js';
import {rupees, shortType, statusBadge, when} from './format.js';
import {sequenceDiagram} from './sequence.js';

const POLL_MS = 1500;
const CONTENT_TYPES = {xml: 'application/xml', json: 'application/json'};

function curlBox(label, command) {
  const area = h('textarea', {class: 'curl', readonly: true, hidden: true, 'aria-label': `${label}: the command`});
  const button = h('button', {type: 'button', class: 'secondary'}, label);
  button.addEventListener('click', () => copyText(command, area));
  return [button, area];
}

function pane(title, lang, content) {
  return h('div', {class: 'rendering'}, h('h4', {}, title),
    typeof content === 'string'
      ? h('pre', {class: 'body', 'data-rendering': lang, tabindex: 0, 'aria-label': `${title} of the message`}, content)
      : content);
}

// Both renderings of a message, from the rail; cached by message, since a message never changes.
async function renderings(message, cache) {
  if (!cache.has(message.seq)) {
    cache.set(message.seq, postRaw('/v1/render', message.body, CONTENT_TYPES[message.rendering] || 'application/xml'));
  }
  return cache.get(message.seq);
}

function fillPanes(box, message, cache) {
  const sentAs = (message.rendering || 'xml').toUpperCase();
  if (message.body === null || message.body === undefined) {
    box.replaceChildren(h('p', {class: 'hint'}, `Not kept as bytes: ${message.sender} and the rail exchanged it as a `
      + 'struct inside the rail process (a simulated bank), so there is nothing as sent to show.'));
    return;
  }
  const waiting = h('p', {class: 'hint'}, 'Rendering…');
  box.replaceChildren(waiting);
  renderings(message, cache).then(both => {
    box.replaceChildren(pane(`XML${sentAs === 'XML' ? ' (sent as XML)' : ' (the rail\u2019s rendering)'}`, 'xml', both.xml),
      pane(`JSON${sentAs === 'JSON' ? ' (sent as JSON)' : ' (the rail\u2019s rendering)'}`, 'json', both.json));
  }, error => {
    const why = h('p', {class: 'hint'}, `Cannot be rendered: ${error.message}`);
    const own = message.rendering === 'json' ? 'json' : 'xml';
    box.replaceChildren(pane('XML', 'xml', own === 'xml' ? message.body : why),
      pane('JSON', 'json', own === 'json' ? message.body : why));
  });
}

function messageArticle(message, index, cache) {
  const facts = [
    `${message.sender} → ${message.receiver}`, message.direction === 'in' ? 'received by the rail' : 'sent by the rail',
    message.channel ? `over ${message.channel}` : null, when(message.at),
    message.http_status ? `HTTP ${message.http_status}` : null,
    message.duration_ms !== null && message.duration_ms !== undefined ? `${message.duration_ms} ms` : null,
  ].filter(Boolean);
  const panes = h('div', {class: 'renderings'});
  fillPanes(panes, message, cache);
  const actions = h('div', {class: 'actions'});
  if (message.direction === 'in' && typeof message.body === 'string' && message.channel !== 'in-process') {
    actions.append(...curlBox('Copy as curl (resend)', resendCommand(location.origin, message, message.body)));
  }
  const raw = typeof message.body === 'string'
    ? h('details', {}, h('summary', {}, `Bytes as ${message.direction === 'in' ? 'received' : 'sent'} (${message.rendering})`),
      h('pre', {class: 'body', 'data-raw': message.rendering}, message.body))
    : null;
  return h('article', {class: 'message', id: `message-${message.seq}`, tabindex: -1, 'data-msg-type': message.msg_type},
    h('header', {},
      h('h3', {}, `${index + 1}. ${shortType(message.msg_type)}`, h('span', {class: 'meta'}, ` ${message.msg_type}`)),
      message.status ? statusBadge(message.status) : null,
      message.reason ? h('span', {class: 'badge bad'}, message.reason) : null,
      h('span', {class: 'meta'}, facts.join(' · '))),
    message.element_path ? h('p', {}, 'Element: ', h('code', {}, message.element_path)) : null,
    panes, raw, actions);
}

function explained(trace, payment, messages) {
  const code = payment.reason || (messages.find(m => m.reason) || {}).reason;
  if (!code) return null;
  const rejecting = messages.find(m => m.reason === code && m.element_path) || messages.find(m => m.reason === code);
  const element = rejecting && rejecting.element_path;
  return h('section', {class: 'reason', id: 'reason', 'aria-labelledby': 'reason-title'},
    h('h2', {id: 'reason-title'}, 'Why: ', h('span', {class: 'code'}, code)),
    h('p', {id: 'reason-text'}, trace.reason_explained || payment.reason_text || 'No explanation is known for this code.'),
    element ? h('p', {}, 'Element that caused it: ', h('code', {id: 'reason-element'}, element)) : null,
    rejecting ? h('p', {class: 'meta'}, `Carried by ${shortType(rejecting.msg_type)} from ${rejecting.sender}.`) : null);
}

function summary(payment) {
  const rows = [
    ['Status', statusBadge(payment.status)],
    ['Amount', rupees(payment.amount_paisa)],
    ['Debtor agent → creditor agent', `${payment.debtor_agent} → ${payment.creditor_agent}`],
    ['EndToEndId', h('span', {class: 'mono', id: 'end-to-end-id'}, payment.end_to_end_id || '')],
    ['Accepted', when(payment.accepted_at || payment.received_at)],
    ['Final', payment.final_at ? when(payment.final_at) : 'not yet: waiting for the creditor agent'],
  ];
  return h('dl', {class: 'summary'}, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function draw(box, uetr, payment, trace, current, cache) {
  // In the order things happened: a request is kept when its answer is written, after what it caused.
  const messages = [...(trace.messages || [])].sort((a, b) => (Date.parse(a.at) - Date.parse(b.at)) || (a.seq - b.seq));
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
        h('figcaption', {}, 'Each arrow is a message, in the order the rail saw them; choose one to read it below. '
          + 'Times from the first message.'))
      : h('p', {class: 'hint'}, 'No message of this payment is kept (the traces\u2019 retention).'),
    h('h2', {}, `Messages (${messages.length})`),
    ...messages.map((m, i) => messageArticle(m, i, cache)));
}

export async function render(main, route) {
  const uetr = route.arg;
  const box = h('div', {id: 'payment'});
  const problem = h('div');
  main.append(h('p', {}, h('a', {href: '#/payments'}, '← Payments')),
    h('h1', {}, 'Payment ', h('span', {class: 'mono', id: 'uetr'}, uetr)), problem, box);
  const cache = new Map();
  let stopped = false, timer = null, drawn = '';
  const load = async () => {
    try {
      const trace = await get(`/v1/payments/${encodeURIComponent(uetr)}/messages`);
      const payment = trace.payment || {uetr, status: null};
      if (stopped) return;
      clear(problem);
      const state = `${payment.status}/${(trace.messages || []).length}`;
      if (state !== drawn) draw(box, uetr, payment, trace, route.session, cache);
      drawn = state;
      box.dataset.status = payment.status || '';
      if (payment.status === 'ACTC') timer = setTimeout(load, POLL_MS);
    } catch (error) {
      if (!stopped) problem.replaceChildren(errorBox(error));
    }
  };
  await load();
  return () => { stopped = true; clearTimeout(timer); };
}
