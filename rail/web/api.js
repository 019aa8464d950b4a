// The rail's API as the page calls it, with the token its user signed in with. The token lives in this tab's
// sessionStorage only: it goes in an Authorization header, never in a URL, a log line or the page's markup, and
// closing the tab forgets it.

const KEY = 'raast-rail.workbench.session';

export class ApiError extends Error {
  constructor(status, code, detail, body) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** {token, kind: 'admin'|'participant', bic} or null. */
export function session() {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY));
    return value && typeof value.token === 'string' ? value : null;
  } catch {
    return null;
  }
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

// JSON numbers beyond 2^53 (balances can reach 10^18 paisa) are read from their source text as BigInt.
function parseJson(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === 'number' && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source)
      ? BigInt(context.source) : value);
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== '') params.set(name, value);
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function send(method, path, {body, query, token, contentType} = {}) {
  const headers = {Accept: 'application/json'};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = contentType || 'application/json';
  let response;
  try {
    response = await fetch(path + queryString(query), {
      method, headers, body: body === undefined || contentType ? body : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'the rail did not answer: is `rail serve` still running?', null);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? parseJson(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const detail = data && typeof data === 'object'
      ? data.detail || data.text || data.error : `HTTP ${response.status}`;
    throw new ApiError(response.status, data && data.error, detail, data);
  }
  return data;
}

/** A call with the signed-in token. */
export function call(method, path, options = {}) {
  const current = session();
  return send(method, path, {...options, token: current && current.token});
}

export const get = (path, query) => call('GET', path, {query});
export const post = (path, body) => call('POST', path, {body: body === undefined ? {} : body});
/** POST a body as it is (a message, in its own Content-Type). */
export const postRaw = (path, body, contentType) => call('POST', path, {body, contentType});

/** Which kind of token this is (the admin's, or a participant's and whose), kept for this tab. */
export async function signIn(token) {
  token = token.trim();
  if (!token) throw new Error('paste a token first');
  try {
    await send('GET', '/admin/balances', {token});
    sessionStorage.setItem(KEY, JSON.stringify({token, kind: 'admin', bic: null}));
    return session();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
  try {
    const own = await send('GET', '/v1/balance', {token});
    sessionStorage.setItem(KEY, JSON.stringify({token, kind: 'participant', bic: own.bic}));
    return session();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw new Error('the rail knows no such token: use the admin token (printed by `rail serve` at its '
        + 'first start, or --admin-token) or a participant token (POST /admin/participants)');
    }
    throw error;
  }
}
