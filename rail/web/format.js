// Money, times and statuses as the page shows them. Money is integer paisa end to end: amounts typed in are
// parsed as decimal text into integer paisa (never through a float), and balances beyond 2^53 arrive as BigInt
// (api.js parses them from the JSON text), so no figure on the page is rounded.

import {h} from './dom.js';

export const AMOUNT_MAX_PAISA = 10 ** 15; // rail/money.py: the one maximum at every entry

/** "Rs 1,234.56" from integer paisa (a number or a BigInt). */
export function rupees(paisa) {
  if (paisa === null || paisa === undefined || paisa === '') return '–';
  const value = BigInt(paisa);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = (abs / 100n).toLocaleString('en-US');
  const cents = String(abs % 100n).padStart(2, '0');
  return `${negative ? '−' : ''}Rs ${whole}.${cents}`;
}

/** A short figure for chart labels: "Rs 1.2m". */
export function rupeesShort(paisa) {
  const value = Number(paisa) / 100;
  const abs = Math.abs(value);
  const [div, unit] = abs >= 1e9 ? [1e9, 'bn'] : abs >= 1e6 ? [1e6, 'm'] : abs >= 1e3 ? [1e3, 'k'] : [1, ''];
  return `Rs ${(value / div).toFixed(div === 1 ? 0 : 1)}${unit}`;
}

/** Integer paisa from text such as "2500", "2,500.5" or "2500.00"; throws with what is wrong. */
export function parsePaisa(text) {
  const clean = String(text).trim().replaceAll(',', '');
  const match = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(clean);
  if (!match) throw new Error('an amount in rupees, with at most 2 decimals (e.g. 2500.00)');
  const paisa = Number(match[1]) * 100 + Number((match[2] || '0').padEnd(2, '0'));
  if (paisa <= 0 || paisa > AMOUNT_MAX_PAISA) throw new Error('an amount above zero and at most Rs 10 trillion');
  return paisa;
}

/** "2026-01-15 10:30:00.123" in the reader's time zone, from an ISO 8601 instant. */
export function when(iso) {
  if (!iso) return '–';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return String(iso);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} `
    + `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`;
}

export function ms(value) {
  if (value === null || value === undefined) return '–';
  const n = Number(value);
  return n >= 100 ? `${n.toFixed(0)} ms` : n >= 10 ? `${n.toFixed(1)} ms` : `${n.toFixed(2)} ms`;
}

export function perSecond(value) {
  if (value === null || value === undefined) return '–';
  const n = Number(value);
  return `${n >= 100 ? n.toFixed(0) : n.toFixed(1)} /s`;
}

const FINAL_OK = new Set(['ACSC', 'ACCC', 'ACSP']);
const FINAL_BAD = new Set(['RJCT', 'CANC']);

/** A status as a badge, coloured by what it means (and worded, so colour is never the only cue). */
export function statusBadge(status) {
  const kind = FINAL_OK.has(status) ? 'ok' : FINAL_BAD.has(status) ? 'bad' : status ? 'wait' : 'plain';
  return h('span', {class: `badge ${kind}`}, status || '–');
}

/** The short ISO name of a message type: "pacs.008" of "pacs.008.001.08". */
export function shortType(msgType) {
  const parts = String(msgType || '').split('.');
  return parts.length >= 2 ? `${parts[0]}.${parts[1]}` : String(msgType || '?');
}
