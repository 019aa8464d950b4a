// Participants (the operator's page): every participant with its settlement account and, for the sandbox's
// simulated banks, how they behave now; register a bank (its token is shown once), fund it, and make a
// simulated bank go down, slow, or reject everything with a code for a while, to test your own timeout and
// retry handling.

import {get, post} from './api.js';
import {copyText, errorBox, field, h, select, table, toast} from './dom.js';
import {parsePaisa, rupees, when} from './format.js';

const MODES = [['normal', 'normal: answers as its test accounts say'], ['down', 'down: answers nothing (AB05 after the scheme timeout)'],
  ['slow', 'slow: answers after a delay'], ['reject', 'reject: refuses every payment with a code']];

function behaviourText(p) {
  const b = p.behaviour;
  if (!p.simulated) return 'your own system';
  if (!b || !b.mode || b.mode === 'normal') return 'normal';
  const parts = [b.mode];
  if (b.mode === 'slow' && b.delay_ms) parts.push(`${b.delay_ms} ms`);
  if (b.mode === 'reject' && b.reason) parts.push(b.reason);
  if (b.until) parts.push(`until ${when(b.until)}`);
  return parts.join(' · ');
}

function participantTable(rows) {
  return table('Participants', [
    {label: 'BIC', cell: p => h('span', {class: 'mono'}, p.bic)},
    {label: 'Name', cell: p => p.name || ''},
    {label: 'Kind', cell: p => h('span', {class: 'badge plain'}, p.simulated ? 'simulated bank' : 'registered')},
    {label: 'Posted', cell: p => rupees(p.posted_paisa), num: true},
    {label: 'Reserved', cell: p => rupees(p.reserved_paisa), num: true},
    {label: 'Available', cell: p => rupees(p.available_paisa), num: true},
    {label: 'Behaviour', cell: p => h('span', {'data-behaviour': p.bic}, behaviourText(p))},
    {label: 'Webhook', cell: p => p.callback_url ? h('span', {class: 'mono'}, p.callback_url) : 'inbox (long-poll)'},
  ], rows, {'data-table': 'participants'});
}

// A form that posts, says what happened in its own live region, then refreshes the page's table.
function actionForm(title, fields, submitLabel, act, refresh) {
  const outcome = h('div', {'aria-live': 'polite'});
  const button = h('button', {type: 'submit'}, submitLabel);
  const form = h('form', {class: 'panel', 'aria-label': title}, h('h2', {}, title), h('div', {class: 'fields'}, fields,
    h('div', {class: 'actions'}, button)), outcome);
  form.addEventListener('submit', async event => {
    event.preventDefault();
    button.disabled = true;
    outcome.replaceChildren();
    try {
      const shown = await act(Object.fromEntries(new FormData(form)), form);
      if (shown) outcome.append(shown);
      await refresh();
    } catch (error) {
      outcome.append(errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function registerForm(refresh) {
  const fields = [
    field('BIC', h('input', {name: 'bic', required: true, maxlength: 11, autocapitalize: 'characters', spellcheck: 'false',
      placeholder: 'TESTPKKA'})),
    field('Name', h('input', {name: 'name', maxlength: 140, placeholder: 'Test Bank'})),
    field('Webhook URL (optional)', h('input', {name: 'callback_url', type: 'url', placeholder: 'your https endpoint'}), {wide: true}),
  ];
  return actionForm('Register a participant', fields, 'Register', async data => {
    const body = {bic: data.bic.trim().toUpperCase(), name: data.name.trim()};
    if (data.callback_url.trim()) body.callback_url = data.callback_url.trim();
    const issued = await post('/admin/participants', body);
    const copy = h('button', {type: 'button', class: 'secondary'}, 'Copy token');
    copy.addEventListener('click', () => copyText(issued.token, null));
    return h('div', {class: 'secret', id: 'issued-token'},
      h('strong', {}, `${issued.bic}'s token, shown once:`), h('code', {}, issued.token),
      issued.webhook_secret ? [h('strong', {}, 'Webhook signing secret, shown once:'), h('code', {}, issued.webhook_secret)] : null,
      h('p', {class: 'hint'}, 'The rail keeps only its hash: copy it now. Registering the same BIC again issues a new '
        + 'token and retires this one.'), copy);
  }, refresh);
}

// A select of participants' BICs, filled again from every refresh of the list (a bank just registered is there).
function bicSelect(pick) {
  const control = select('bic', []);
  control.update = rows => {
    const keep = control.value;
    control.replaceChildren(...rows.filter(pick).map(p => h('option', {value: p.bic, selected: p.bic === keep}, p.bic)));
  };
  return control;
}

function fundForm(bicControl, refresh) {
  const fields = [
    field('Participant', bicControl),
    field('Amount (Rs)', h('input', {name: 'amount', inputmode: 'decimal', required: true, placeholder: '1000000.00'})),
    field('Direction', select('direction', [['in', 'in: central bank → account'], ['out', 'out: account → central bank']])),
  ];
  return actionForm('Fund a settlement account', fields, 'Move liquidity', async data => {
    const result = await post('/admin/liquidity', {bic: data.bic, amount: parsePaisa(data.amount), direction: data.direction});
    toast(`${result.bic}: ${data.direction === 'in' ? 'funded' : 'defunded'} ${rupees(result.amount)}`);
    return h('p', {class: 'notice'}, `Done: ${rupees(result.amount)} ${data.direction} for ${result.bic}; posted balance `
      + `now ${rupees(result.posted_paisa)}.`);
  }, refresh);
}

function behaviourForm(bicControl, refresh) {
  const mode = select('mode', MODES, 'down');
  const delay = h('input', {name: 'delay_ms', type: 'number', min: 1, max: 60000, value: 3000});
  const reason = h('input', {name: 'reason', maxlength: 4, value: 'AC04', autocapitalize: 'characters', size: 6});
  const fields = [
    field('Simulated bank', bicControl),
    field('Behaviour', mode),
    field('For (seconds)', h('input', {name: 'for_s', type: 'number', min: 1, max: 86400, value: 60, required: true})),
    field('Delay (ms, slow)', delay),
    field('Reason code (reject)', reason, {hint: 'e.g. AC04, AM04, AG01'}),
  ];
  const sync = () => { delay.disabled = mode.value !== 'slow'; reason.disabled = mode.value !== 'reject'; };
  mode.addEventListener('change', sync);
  sync();
  return actionForm('Make a simulated bank misbehave for a while', fields, 'Apply', async data => {
    const body = {mode: data.mode, for_s: Number(data.for_s)};
    if (data.mode === 'slow') body.delay_ms = Number(data.delay_ms);
    if (data.mode === 'reject') body.reason = String(data.reason || '').trim().toUpperCase();
    const result = await post(`/admin/participants/${encodeURIComponent(data.bic)}/behaviour`, body);
    const until = result && result.until ? ` until ${when(result.until)}` : '';
    return h('p', {class: 'notice', id: 'behaviour-outcome'}, `${data.bic} is now ${data.mode}${until}.`);
  }, refresh);
}

export async function render(main) {
  main.append(h('h1', {}, 'Participants'));
  const listBox = h('div', {id: 'participants'});
  const problem = h('div');
  const everyone = bicSelect(() => true), simulated = bicSelect(p => p.simulated);
  const refresh = async () => {
    try {
      const rows = await get('/admin/participants');
      listBox.replaceChildren(participantTable(rows));
      everyone.update(rows);
      simulated.update(rows);
      problem.replaceChildren();
    } catch (error) {
      problem.replaceChildren(errorBox(error));
    }
  };
  await refresh();
  const refreshButton = h('button', {type: 'button', class: 'secondary'}, 'Refresh');
  refreshButton.addEventListener('click', refresh);
  main.append(problem, h('div', {class: 'actions'}, refreshButton), listBox,
    registerForm(refresh),
    fundForm(everyone, refresh),
    behaviourForm(simulated, refresh));
}
