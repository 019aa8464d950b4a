// Reset the sandbox (the operator's page): back to the default scheme, nothing paid; the registered
// participants keep their tokens if asked. It cannot be undone, so it asks once more in a dialog.

import {post} from './api.js';
import {errorBox, h, toast} from './dom.js';

export function render(main) {
  const keep = h('input', {type: 'checkbox', name: 'keep_tokens', id: 'keep-tokens', checked: true});
  const outcome = h('div', {'aria-live': 'polite'});
  const open = h('button', {type: 'button', class: 'danger'}, 'Reset the sandbox…');
  const confirm = h('button', {type: 'button', class: 'danger', id: 'confirm-reset'}, 'Reset now');
  const cancel = h('button', {type: 'button', class: 'secondary'}, 'Cancel');
  const dialog = h('dialog', {'aria-labelledby': 'reset-dialog-title', 'aria-describedby': 'reset-dialog-text'},
    h('h2', {id: 'reset-dialog-title'}, 'Reset the sandbox?'),
    h('p', {id: 'reset-dialog-text'}, 'Every payment, message trace, inbox and balance goes; the default scheme\u2019s '
      + 'banks start again prefunded. This cannot be undone.'),
    h('p', {id: 'reset-dialog-keep'}),
    h('div', {class: 'actions'}, confirm, cancel));
  open.addEventListener('click', () => {
    dialog.querySelector('#reset-dialog-keep').textContent = keep.checked
      ? 'Registered participants stay, with their tokens.'
      : 'Registered participants go too: their tokens stop working.';
    dialog.showModal();
    cancel.focus();
  });
  cancel.addEventListener('click', () => dialog.close());
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    outcome.replaceChildren();
    try {
      const result = await post('/admin/reset', {confirm: 'RESET', keep_tokens: keep.checked});
      dialog.close();
      toast('The sandbox was reset');
      const kept = result && Array.isArray(result.kept) ? ` Kept: ${result.kept.join(', ') || 'none'}.` : '';
      outcome.append(h('p', {class: 'notice', id: 'reset-outcome'}, `The sandbox was reset.${kept}`));
    } catch (error) {
      dialog.close();
      outcome.append(errorBox(error));
    } finally {
      confirm.disabled = false;
    }
  });
  main.append(h('h1', {}, 'Reset the sandbox'),
    h('section', {class: 'panel'},
      h('p', {}, 'Start again from the default scheme: the central bank and the eight simulated banks, prefunded, '
        + 'no payment made. Useful between test runs of your own integration.'),
      h('label', {class: 'check', for: 'keep-tokens'}, keep, 'Keep registered participants and their tokens'),
      h('div', {class: 'actions'}, open)),
    outcome, dialog);
}
