// The REST API v1 client: JSON requests, the bearer token, and the live
// event stream of a run. The UI uses nothing but this public API.

const KEY = 'wasmflow.token';

// auth keeps the bearer token: for this tab (sessionStorage), or on this
// device too when the person asked for it (localStorage).
export const auth = {
  get token() {
    return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || '';
  },
  set(token, remember) {
    this.clear();
    (remember ? localStorage : sessionStorage).setItem(KEY, token);
  },
  clear() {
    sessionStorage.removeItem(KEY);
    localStorage.removeItem(KEY);
  },
};

// APIError is an error answer: its HTTP status, its stable code and its
// message for people.
export class APIError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    // details is the whole error object, with the fields some codes add
    // (the divergence of upgrade_diverged).
    this.details = details ?? {};
  }
}

function headers(more) {
  const hs = {...more};
  if (auth.token) hs.Authorization = `Bearer ${auth.token}`;
  return hs;
}

// unauthorized tells the app that the server wants a (valid) token.
function unauthorized(err) {
  window.dispatchEvent(new CustomEvent('wasmflow:unauthorized', {detail: err}));
}

async function errorOf(resp) {
  const text = await resp.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  const e = body?.error ?? {code: `http_${resp.status}`, message: text || resp.statusText};
  const err = new APIError(resp.status, e.code, e.message, e);
  if (resp.status === 401) unauthorized(err);
  return err;
}

// request sends a request and returns the answer's status and decoded
// JSON body, or throws an APIError. body, when given, is sent as JSON (a
// string as it is).
export async function request(method, path, body, {signal} = {}) {
  const init = {method, headers: headers({Accept: 'application/json'}), signal, cache: 'no-store'};
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const resp = await fetch(path, init);
  if (!resp.ok) throw await errorOf(resp);
  const text = await resp.text();
  return {status: resp.status, body: text ? JSON.parse(text) : null};
}

// api is request's answer body.
export async function api(method, path, body, opts) {
  return (await request(method, path, body, opts)).body;
}

// query renders the non-empty fields of params as a query string.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v != null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// streamEvents reads the run's live event stream (server-sent events over
// fetch, which unlike EventSource can send the bearer token) and calls
// onEvent with each event after seq `after`. It returns when the server ends
// the stream, which it does once the run has finished, and throws on
// errors and when signal aborts.
export async function streamEvents(id, after, onEvent, signal) {
  const resp = await fetch(`/v1/runs/${encodeURIComponent(id)}/events${query({after})}`, {
    headers: headers({Accept: 'text/event-stream'}), signal, cache: 'no-store',
  });
  if (!resp.ok) throw await errorOf(resp);
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buf += value.replaceAll('\r\n', '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // a heartbeat
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'event') type = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length === 0) continue;
      const payload = JSON.parse(data.join('\n'));
      if (type === 'error') {
        throw new APIError(0, payload.error?.code ?? 'stream', payload.error?.message ?? 'the event stream failed');
      }
      onEvent(payload);
    }
  }
}
