// The start page: start a run of a workflow with a JSON input.

import {api, request} from './api.js';
import {h, replace} from './dom.js';

// examples are inputs for the example workflows, offered as a start.
const examples = {
  'signup/signup': {email: 'ada@example.com'},
  'receipt/receipt': {order_id: 'A-1001', amount_cents: 4200, email: 'ada@example.com'},
  'export/export': {items: 2000, delay_ms: 2},
};

export function startPage(main, _params, {query: q, signal, toast}) {
  document.title = 'Start a run · wasmflow';
  const want = {module: q.get('module') ?? '', version: q.get('version') ?? '', workflow: q.get('workflow') ?? ''};
  let versions = [];
  let example = '';

  const moduleSel = h('select', {id: 'start-module', required: true, onchange: () => loadVersions()});
  const versionSel = h('select', {id: 'start-version', onchange: () => fillWorkflows()});
  const workflowSel = h('select', {id: 'start-workflow', required: true, onchange: () => offerExample()});
  const input = h('textarea', {id: 'start-input', rows: '8', spellcheck: 'false', 'aria-describedby': 'start-input-help'});
  const key = h('input', {id: 'start-key', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'start-key-help'});
  const msg = h('p', {class: 'action-msg', role: 'status'});
  const submit = h('button', {type: 'submit', class: 'primary', id: 'start-submit'}, 'Start run');

  replace(main,
    h('div', {class: 'page-head'}, h('h1', null, 'Start a run')),
    h('form', {class: 'card narrow stack', id: 'start-form', onsubmit: start},
      h('div', {class: 'field'}, h('label', {for: 'start-module'}, 'Module'), moduleSel),
      h('div', {class: 'field'}, h('label', {for: 'start-version'}, 'Version'), versionSel),
      h('div', {class: 'field'}, h('label', {for: 'start-workflow'}, 'Workflow'), workflowSel),
      h('div', {class: 'field'}, h('label', {for: 'start-input'}, 'Input (JSON)'), input,
        h('small', {id: 'start-input-help', class: 'muted'}, 'Empty sends null.')),
      h('div', {class: 'field'}, h('label', {for: 'start-key'}, 'Idempotency key (optional)'), key,
        h('small', {id: 'start-key-help', class: 'muted'}, 'Starting again with the same key shows the run it started the first time.')),
      h('div', {class: 'actions'}, submit),
      msg));

  async function start(e) {
    e.preventDefault();
    const text = input.value.trim();
    let inputValue = null;
    if (text) {
      try { inputValue = JSON.parse(text); } catch (err) {
        fail(`The input is not valid JSON: ${err.message}`);
        input.focus();
        return;
      }
    }
    submit.disabled = true;
    msg.className = 'action-msg';
    msg.textContent = 'Starting…';
    try {
      const body = {module: moduleSel.value, workflow: workflowSel.value, input: inputValue};
      if (versionSel.value) body.version = versionSel.value;
      if (key.value.trim()) body.idempotency_key = key.value.trim();
      const resp = await fetchStart(body);
      toast(resp.created ? 'Run started.' : 'A run with this idempotency key exists: here it is.');
      location.hash = `#/runs/${encodeURIComponent(resp.run.id)}`;
    } catch (err) {
      if (!signal.aborted) fail(`${err.code ? `${err.code}: ` : ''}${err.message}`);
    } finally {
      submit.disabled = false;
    }
  }

  // fetchStart starts the run, telling a new run (201) from an existing one
  // with the same idempotency key (200).
  async function fetchStart(body) {
    const {status, body: run} = await request('POST', '/v1/runs', body, {signal});
    return {run, created: status === 201};
  }

  function fail(text) {
    msg.className = 'action-msg error';
    msg.textContent = text;
  }

  async function loadModules() {
    const {modules} = await api('GET', '/v1/modules', undefined, {signal});
    replace(moduleSel, modules.length ? modules.map((m) => h('option', {value: m.name}, m.name)) : h('option', {value: ''}, 'No modules'));
    if (want.module && modules.some((m) => m.name === want.module)) moduleSel.value = want.module;
    await loadVersions();
  }

  async function loadVersions() {
    if (!moduleSel.value) return;
    ({versions} = await api('GET', `/v1/modules/${encodeURIComponent(moduleSel.value)}`, undefined, {signal}));
    replace(versionSel, h('option', {value: ''}, `latest (${versions[0]?.version})`),
      versions.map((v) => h('option', {value: v.version}, v.version)));
    if (want.version && versions.some((v) => v.version === want.version)) versionSel.value = want.version;
    want.version = '';
    fillWorkflows();
  }

  function fillWorkflows() {
    const v = versions.find((x) => x.version === versionSel.value) ?? versions[0];
    const names = v ? v.workflows.map((w) => w.name) : [];
    const keep = want.workflow || workflowSel.value;
    replace(workflowSel, names.map((n) => h('option', {value: n}, n)));
    if (names.includes(keep)) workflowSel.value = keep;
    want.workflow = '';
    offerExample();
  }

  // offerExample fills the input with an example for the workflow, unless
  // the person has typed their own.
  function offerExample() {
    const ex = examples[`${moduleSel.value}/${workflowSel.value}`];
    const text = ex ? JSON.stringify(ex, null, 2) : '';
    if (input.value.trim() === '' || input.value === example) input.value = example = text;
  }

  loadModules().catch((err) => { if (!signal.aborted) fail(`Could not load the modules: ${err.message}`); });
}
