// The app: a router over the URL's fragment, the token form, and messages.
// Each page is a function (main, params, ctx) that fills main and stops its
// live updates when ctx.signal aborts, which happens when the page changes.

import {auth} from './api.js';
import {h, replace} from './dom.js';
import {here} from './nav.js';
import {modulesPage} from './modules.js';
import {runPage} from './run.js';
import {runsPage} from './runs.js';
import {startPage} from './start.js';

const routes = [
  {name: 'runs', path: /^\/runs\/([^/]+)$/, page: runPage},
  {name: 'runs', path: /^\/(?:runs)?$/, page: runsPage},
  {name: 'modules', path: /^\/modules$/, page: modulesPage},
  {name: 'start', path: /^\/start$/, page: startPage},
];

const main = document.getElementById('main');
let current = null; // {controller}
let lastUnauthorized = null;

function render({focus = true} = {}) {
  current?.controller.abort();
  const controller = new AbortController();
  current = {controller};
  lastUnauthorized = null;
  const {path, query} = here();
  const route = routes.find((r) => r.path.test(path));
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (route && a.dataset.nav === route.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  replace(main);
  renderSession();
  if (!route) {
    document.title = 'Not found · wasmflow';
    replace(main, h('h1', {tabindex: '-1'}, 'Not found'), h('p', null, 'No page here. ', h('a', {href: '#/runs'}, 'See the runs.')));
  } else {
    const params = path.match(route.path).slice(1).map(decodeURIComponent);
    route.page(main, params, {query, signal: controller.signal, toast});
  }
  if (focus) focusHeading();
}

// focusHeading moves the focus to the page's heading once it is there, so
// that keyboard and screen reader users start at the new page.
function focusHeading() {
  requestAnimationFrame(() => {
    const h1 = main.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus({preventScroll: true});
    } else {
      main.focus({preventScroll: true});
    }
  });
}

// The token form replaces the page when the API answers 401.
window.addEventListener('wasmflow:unauthorized', (e) => {
  if (lastUnauthorized) return;
  lastUnauthorized = e.detail;
  current?.controller.abort();
  tokenForm(e.detail);
});

function tokenForm(err) {
  document.title = 'Token needed · wasmflow';
  const input = h('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false'});
  const remember = h('input', {id: 'remember', type: 'checkbox'});
  const had = Boolean(auth.token);
  replace(main,
    h('section', {class: 'card narrow', 'aria-labelledby': 'auth-title'},
      h('h1', {id: 'auth-title', tabindex: '-1'}, 'Token needed'),
      h('p', null, 'This server needs a bearer token for its API. Create one with ',
        h('code', null, 'wasmflow token create --scope read|write|admin'), ': ',
        h('code', null, 'read'), ' shows runs; ', h('code', null, 'write'), ' also starts, signals, cancels and retries them.'),
      had && h('p', {class: 'error', role: 'alert'}, `The server did not accept the token: ${err.message}`),
      h('form', {id: 'token-form', onsubmit: (ev) => {
        ev.preventDefault();
        auth.set(input.value.trim(), remember.checked);
        render();
      }},
      h('div', {class: 'field'}, h('label', {for: 'token'}, 'Token'), input),
      h('div', {class: 'check'}, remember, h('label', {for: 'remember'}, 'Remember on this device')),
      h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, 'Use token')))));
  renderSession();
  requestAnimationFrame(() => input.focus());
}

function renderSession() {
  const el = document.getElementById('session');
  if (!auth.token) return replace(el);
  replace(el, h('button', {type: 'button', class: 'link', onclick: () => {
    auth.clear();
    toast('Token forgotten.');
    render();
  }}, 'Forget token'));
}

let toastTimer;
// toast shows a short message, read out by screen readers.
export function toast(msg, kind = 'info') {
  const el = document.getElementById('toast');
  el.className = `toast show ${kind}`;
  el.textContent = msg;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; }, 5000);
}

document.getElementById('skip').addEventListener('click', () => focusHeading());

// "/" jumps to the page's search, as on many sites. The key down is
// cancelled (no quick find, no "/" typed); the focus moves when it is up.
function searchKey(e) {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return null;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t.isContentEditable) return null;
  return main.querySelector('[data-search]');
}
document.addEventListener('keydown', (e) => {
  if (searchKey(e)) e.preventDefault();
});
document.addEventListener('keyup', (e) => {
  searchKey(e)?.focus();
});

window.addEventListener('hashchange', () => render());
render({focus: false});
