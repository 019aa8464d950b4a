// The workbench: one page, hash routes (#/overview, #/payments, #/payments/<uetr>, #/participants, #/webhook,
// #/reset, #/signin). Each view is a module with `render(main, route)` that may return a function stopping what
// it started (a poll). The token never appears in a route: routes hold only what the reader could share.

import {session, signOut} from './api.js';
import {clear, errorBox} from './dom.js';
import * as overview from './overview.js';
import * as participants from './participants.js';
import * as payment from './payment.js';
import * as payments from './payments.js';
import * as reset from './reset.js';
import * as signin from './signin.js';
import * as webhook from './webhook.js';

const VIEWS = {
  overview: {view: overview, title: 'Overview'},
  payments: {view: payments, title: 'Payments'},
  payment: {view: payment, title: 'Payment'},
  participants: {view: participants, title: 'Participants', kind: 'admin'},
  webhook: {view: webhook, title: 'Webhook', kind: 'participant'},
  reset: {view: reset, title: 'Reset the sandbox', kind: 'admin'},
  signin: {view: signin, title: 'Sign in'},
};

let stopCurrent = null;

/** The route of a hash: {name, arg, query}. */
export function parseRoute(hash) {
  const [path, search] = hash.replace(/^#\/?/, '').split('?');
  const [first, ...rest] = path.split('/');
  const query = Object.fromEntries(new URLSearchParams(search || ''));
  if (first === 'payments' && rest.length && rest[0]) {
    return {name: 'payment', arg: decodeURIComponent(rest.join('/')), query};
  }
  return {name: first || 'overview', arg: null, query};
}

function showWho(current) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.hidden = who.hidden = !current;
  if (!current) return;
  for (const link of nav.querySelectorAll('a[data-for]')) link.hidden = link.dataset.for !== current.kind;
  document.getElementById('who-text').textContent =
    current.kind === 'admin' ? 'Signed in as the operator (admin)' : `Signed in as ${current.bic}`;
}

function markCurrent(name) {
  const section = name === 'payment' ? 'payments' : name;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === `#/${section}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function show() {
  if (stopCurrent) stopCurrent();
  stopCurrent = null;
  const current = session();
  let route = parseRoute(location.hash);
  if (!current && route.name !== 'signin') route = {name: 'signin', arg: null, query: {}};
  let entry = VIEWS[route.name];
  if (!entry || (entry.kind && current && entry.kind !== current.kind)) {
    route = {name: 'overview', arg: null, query: {}};
    entry = VIEWS.overview;
  }
  showWho(current);
  markCurrent(route.name);
  document.title = `${entry.title} · raast-rail workbench`;
  const main = clear(document.getElementById('view'));
  window.scrollTo(0, 0);
  try {
    stopCurrent = (await entry.view.render(main, {...route, session: current})) || null;
  } catch (error) {
    main.append(errorBox(error));
  }
  // A keyboard or screen-reader user lands on the new page, unless the page put focus somewhere itself.
  if (!main.contains(document.activeElement) || document.activeElement === main) main.focus({preventScroll: true});
}

document.getElementById('sign-out').addEventListener('click', () => {
  signOut();
  location.hash = '#/signin';
  show();
});
window.addEventListener('hashchange', show);
show();

