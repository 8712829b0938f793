// The runs page: a live list of runs with counts per status, filters by
// status, module, version, workflow and parent run, and search by run id
// or idempotency key.

import {api, APIError, query} from './api.js';
import {badge, h, replace, table, time} from './dom.js';
import {every, setQuery} from './nav.js';

export const STATUSES = ['pending', 'running', 'sleeping', 'waiting', 'completed', 'failed', 'cancelled'];
const PAGE = 50;

export function runsPage(main, _params, {query: q, signal}) {
  document.title = 'Runs · wasmflow';
  const state = {
    status: q.get('status') ?? '', module: q.get('module') ?? '', version: q.get('version') ?? '',
    workflow: q.get('workflow') ?? '', parent: q.get('parent') ?? '', q: q.get('q') ?? '', limit: PAGE,
  };
  let modules = [];
  let shown = '';

  const search = h('input', {id: 'q', type: 'search', value: state.q, autocomplete: 'off', spellcheck: 'false',
    'data-search': true, 'aria-describedby': 'q-help'});
  const moduleSel = h('select', {id: 'module', onchange: () => {
    state.module = moduleSel.value;
    state.version = '';
    state.workflow = '';
    fillWorkflows();
    changed();
  }});
  const workflowSel = h('select', {id: 'workflow', onchange: () => { state.workflow = workflowSel.value; changed(); }});
  const chips = h('div', {class: 'chips'});
  const statusBar = h('div', {class: 'statuses', role: 'group', 'aria-label': 'Filter by status'});
  const summary = h('p', {class: 'summary muted'});
  const list = h('div', {class: 'runs-list'});
  const more = h('button', {type: 'button', hidden: true, onclick: () => {
    state.limit = Math.min(state.limit + PAGE, 500);
    refresh();
  }}, 'Show more runs');
  const errorBox = h('p', {class: 'error', role: 'alert', hidden: true});

  replace(main,
    h('div', {class: 'page-head'},
      h('h1', null, 'Runs'),
      h('a', {class: 'button primary', href: '#/start'}, 'Start a run')),
    h('div', {class: 'toolbar'},
      h('form', {role: 'search', class: 'search', onsubmit: (e) => {
        e.preventDefault();
        // A search looks through every run, whatever the filters.
        state.q = search.value.trim();
        state.status = '';
        changed();
      }},
      h('label', {for: 'q'}, 'Search'),
      h('div', {class: 'inline'}, search, h('button', {type: 'submit'}, 'Search')),
      h('small', {id: 'q-help', class: 'muted'}, 'A whole run id or idempotency key. Press / to search.')),
      h('div', {class: 'field'}, h('label', {for: 'module'}, 'Module'), moduleSel),
      h('div', {class: 'field'}, h('label', {for: 'workflow'}, 'Workflow'), workflowSel)),
    statusBar, chips, errorBox, summary, list, more);

  function changed() {
    state.limit = PAGE;
    shown = '';
    setQuery({status: state.status, module: state.module, version: state.version, workflow: state.workflow, parent: state.parent, q: state.q});
    renderChips();
    refresh();
  }

  function renderChips() {
    const clear = (label, what) => h('button', {type: 'button', class: 'chip', 'aria-label': `Remove the filter ${label}`,
      onclick: () => { what(); changed(); }}, label, h('span', {'aria-hidden': 'true'}, ' ×'));
    replace(chips,
      state.q && clear(`search: ${state.q}`, () => { state.q = ''; search.value = ''; }),
      state.version && clear(`version ${state.version}`, () => { state.version = ''; }),
      state.parent && clear(`children of ${state.parent}`, () => { state.parent = ''; }));
  }

  function fillSelect(sel, label, names, value) {
    replace(sel, h('option', {value: ''}, `All ${label}`), names.map((n) => h('option', {value: n}, n)));
    if (value && !names.includes(value)) sel.append(h('option', {value}, value));
    sel.value = value;
  }

  function fillWorkflows() {
    const mods = state.module ? modules.filter((m) => m.name === state.module) : modules;
    const names = [...new Set(mods.flatMap((m) => m.workflows.map((w) => w.name)))].sort();
    fillSelect(workflowSel, 'workflows', names, state.workflow);
  }

  let countsShown = '';
  function renderCounts(counts) {
    const sig = JSON.stringify([counts, state.status]);
    if (sig === countsShown) return;
    countsShown = sig;
    const chip = (status, n, label) => h('button', {
      type: 'button', class: `status-filter ${status ? `status-${status}` : ''}`, 'aria-pressed': String(state.status === status),
      dataset: {status}, onclick: () => {
        state.status = state.status === status ? '' : status;
        state.q = '';
        search.value = '';
        changed();
      },
    }, label, ' ', h('span', {class: 'count'}, String(n)));
    const focused = statusBar.contains(document.activeElement) ? document.activeElement.dataset.status : null;
    replace(statusBar, chip('', counts.total, 'All'), STATUSES.map((s) => chip(s, counts.statuses[s] ?? 0, s)));
    if (focused != null) statusBar.querySelector(`[data-status="${focused}"]`)?.focus();
  }

  async function searchRuns(term) {
    const byKey = api('GET', `/v1/runs${query({idempotency_key: term, limit: PAGE})}`, undefined, {signal});
    let byID = [];
    try {
      byID = [await api('GET', `/v1/runs/${encodeURIComponent(term)}`, undefined, {signal})];
    } catch (e) {
      if (!(e instanceof APIError && e.status === 404)) throw e;
    }
    const runs = [...byID, ...(await byKey).runs.filter((r) => !byID.some((b) => b.id === r.id))];
    return {runs, next: null};
  }

  function renderRuns(runs, next) {
    more.hidden = !next || state.limit >= 500;
    const sig = JSON.stringify(runs.map((r) => [r.id, r.status, r.updated_at, r.attempt]));
    const filtered = state.status || state.module || state.workflow || state.version || state.parent;
    summary.textContent = state.q
      ? `${runs.length} run${runs.length === 1 ? '' : 's'} with the id or idempotency key “${state.q}”.`
      : `${runs.length}${next ? '+' : ''} run${runs.length === 1 ? '' : 's'}${filtered ? ' matching the filters' : ''}, newest first, updated live.`;
    if (sig === shown) return;
    shown = sig;
    const focusedRun = list.contains(document.activeElement) ? document.activeElement.dataset.run : null;
    if (runs.length === 0) {
      replace(list, h('p', {class: 'empty'}, state.q || filtered ? 'No runs match.' : 'No runs yet. ',
        !state.q && !filtered && h('a', {href: '#/start'}, 'Start one.')));
      return;
    }
    replace(list, table({
      caption: 'Runs, newest first',
      className: 'runs',
      columns: ['Run', 'Status', 'Module', 'Workflow', 'Attempt', 'Created', 'Updated'],
      rows: runs.map((r) => ({
        props: {dataset: {runId: r.id, status: r.status}},
        cells: [
          h('span', {class: 'run-id'},
            h('a', {href: `#/runs/${encodeURIComponent(r.id)}`, dataset: {run: r.id}}, h('code', null, r.id)),
            r.idempotency_key && h('small', {class: 'muted key', title: 'idempotency key'}, r.idempotency_key)),
          badge(r.status),
          h('span', null, r.module, h('span', {class: 'muted'}, ` v${r.module_version}`)),
          r.workflow,
          String(r.attempt),
          time(r.created_at),
          time(r.updated_at),
        ],
      })),
    }));
    if (focusedRun) list.querySelector(`[data-run="${CSS.escape(focusedRun)}"]`)?.focus();
  }

  let latest = 0;
  async function refresh() {
    const filters = {module: state.module, version: state.version, workflow: state.workflow};
    const mine = ++latest; // a refresh answered after a newer one is dropped
    try {
      const [counts, page] = await Promise.all([
        api('GET', `/v1/runs/counts${query(filters)}`, undefined, {signal}),
        state.q ? searchRuns(state.q)
          : api('GET', `/v1/runs${query({...filters, status: state.status, parent: state.parent, limit: state.limit})}`, undefined, {signal}),
      ]);
      if (signal.aborted || mine !== latest) return;
      renderCounts(counts);
      renderRuns(page.runs, page.next);
      errorBox.hidden = true;
    } catch (e) {
      if (signal.aborted || mine !== latest) return;
      errorBox.hidden = false;
      errorBox.textContent = `Could not load the runs: ${e.message}`;
    }
  }

  renderChips();
  fillSelect(moduleSel, 'modules', state.module ? [state.module] : [], state.module);
  fillWorkflows();
  api('GET', '/v1/modules', undefined, {signal}).then(({modules: mods}) => {
    modules = mods;
    fillSelect(moduleSel, 'modules', mods.map((m) => m.name), state.module);
    fillWorkflows();
  }).catch(() => { /* the list shows the error */ });
  every(2000, signal, refresh);
}
