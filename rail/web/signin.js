// Sign in with the admin token or a participant's token. The field is a password field (not echoed, not
// autocompleted into history); the token is checked against the rail and kept in this tab's sessionStorage.

import {signIn} from './api.js';
import {errorBox, field, go, h} from './dom.js';

export function render(main) {
  const input = h('input', {type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false',
    required: true, 'aria-required': 'true'});
  const problem = h('div', {'aria-live': 'assertive'});
  const button = h('button', {type: 'submit'}, 'Sign in');
  const form = h('form', {class: 'panel signin', 'aria-labelledby': 'signin-title'},
    h('h1', {id: 'signin-title'}, 'Sign in to the sandbox workbench'),
    h('p', {}, 'The admin token (printed by ', h('code', {}, 'rail serve'), ' at its first start, or set with ',
      h('code', {}, '--admin-token'), ') shows every payment and runs the sandbox. A participant token (issued by ',
      h('code', {}, 'POST /admin/participants'), ') shows that bank\u2019s own payments only.'),
    field('Token', input, {wide: true, hint: 'Kept in this browser tab only, and forgotten when you close it.'}),
    h('div', {class: 'actions'}, button),
    problem);
  form.addEventListener('submit', async event => {
    event.preventDefault();
    problem.replaceChildren();
    button.disabled = true;
    try {
      await signIn(input.value);
      input.value = '';
      go('#/overview');
    } catch (error) {
      problem.append(errorBox(error));
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.append(form);
  input.focus();
}
