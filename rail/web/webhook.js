// Webhook (a participant's page): the deliveries the rail made to its callback URL, with their answers; send a
// test event; rotate the signing secret (the new one is shown once).

import {get, post} from './api.js';
import {copyText, errorBox, h, table, toast} from './dom.js';
import {when} from './format.js';

function deliveries(page) {
  const rows = Array.isArray(page) ? page : (page && page.deliveries) || [];
  if (!rows.length) return h('p', {class: 'hint'}, 'No delivery yet. Deliveries go to the callback URL set at '
    + 'registration (POST /admin/participants with callback_url); without one, read GET /v1/inbox instead.');
  const what = d => (d.kind === 'test' ? 'test event'
    : `${d.messages ?? '?'} message${d.messages === 1 ? '' : 's'} (seq ${d.first_seq ?? '?'}–${d.last_seq ?? '?'})`);
  return table('Deliveries, newest first (the last 200)', [
    {label: 'At', cell: d => when(d.at)},
    {label: 'What', cell: what},
    {label: 'Attempt', cell: d => String(d.attempt ?? ''), num: true},
    {label: 'Your answer', cell: d => (d.http_status ? `HTTP ${d.http_status}` : 'no answer')},
    {label: 'Took', cell: d => (d.duration_ms !== undefined && d.duration_ms !== null ? `${d.duration_ms} ms` : '–'), num: true},
    {label: 'Error', cell: d => d.error || ''},
  ], rows, {'data-table': 'deliveries'});
}

function button(label, onClick, kind = 'secondary') {
  const b = h('button', {type: 'button', class: kind}, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await onClick(); } finally { b.disabled = false; }
  });
  return b;
}

export async function render(main, route) {
  const list = h('div', {id: 'deliveries'});
  const outcome = h('div', {'aria-live': 'polite'});
  const refresh = async () => {
    try {
      list.replaceChildren(deliveries(await get('/v1/webhook/deliveries')));
    } catch (error) {
      list.replaceChildren(errorBox(error));
    }
  };
  const test = button('Send a test event', async () => {
    outcome.replaceChildren();
    try {
      const sent = await post('/v1/webhook/test');
      toast('Test event sent');
      outcome.append(h('p', {class: sent.ok ? 'notice' : 'error'}, sent.ok
        ? `Delivered: your endpoint answered HTTP ${sent.http_status} in ${sent.duration_ms} ms.`
        : `Not delivered: ${sent.error || `your endpoint answered HTTP ${sent.http_status}`}.`));
      await refresh();
    } catch (error) {
      outcome.append(errorBox(error));
    }
  }, '');
  const rotate = button('Rotate the signing secret', async () => {
    outcome.replaceChildren();
    try {
      const issued = await post('/v1/webhook/secret', {});
      const copy = button('Copy secret', () => copyText(issued.webhook_secret, null));
      outcome.append(h('div', {class: 'secret'}, h('strong', {}, 'New signing secret, shown once:'),
        h('code', {}, issued.webhook_secret),
        h('p', {class: 'hint'}, 'Deliveries carry a signature under each valid secret: the previous one signs too until '
          + `${when(issued.previous_valid_until)}, so you can switch without missing one.`), copy));
    } catch (error) {
      outcome.append(errorBox(error));
    }
  });
  main.append(h('h1', {}, `Webhook of ${route.session.bic}`),
    h('p', {}, 'The rail pushes your inbox to your callback URL, each delivery signed (Rail-Signature: HMAC-SHA256 '
      + 'of Rail-Timestamp, a dot and the body, under your webhook secret) so you can check it came from the rail '
      + 'and is not a replay: refuse one more than 300 s from your clock. ', h('code', {}, 'rail webhook verify'),
      ' checks one.'),
    h('div', {class: 'actions'}, test, rotate, button('Refresh', refresh)), outcome, list);
  await refresh();
}
