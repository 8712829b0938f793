// The modules page: every module with its versions, digests, workflows and
// the runs pinned to each version, and the deletion of a version that no
// run needs any more.

import {api, query} from './api.js';
import {badge, h, replace, shortDigest, table, time} from './dom.js';
import {every} from './nav.js';
import {STATUSES} from './runs.js';

export function modulesPage(main, _params, {signal, toast}) {
  document.title = 'Modules · wasmflow';
  const list = h('div', {class: 'modules'});
  const errorBox = h('p', {class: 'error', role: 'alert', hidden: true});
  const actionMsg = h('p', {class: 'action-msg', id: 'module-action', role: 'status'});
  replace(main,
    h('div', {class: 'page-head'}, h('h1', null, 'Modules')),
    h('p', {class: 'muted'}, 'Uploaded modules, newest version first. A run is pinned to the exact version it started with. ',
      'A version can be deleted once no run needs it: the runs pinned to it have completed or were cancelled (a failed run still needs it, since it may be retried).'),
    errorBox, actionMsg, list);
  let shown = '';
  let asking = ''; // the "name\0version" whose delete waits for a confirmation

  // deleteVersion deletes a version, or shows why the server refused.
  async function deleteVersion(name, version) {
    asking = '';
    actionMsg.className = 'action-msg';
    actionMsg.textContent = 'Deleting…';
    try {
      await api('DELETE', `/v1/modules/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`, undefined, {signal});
      actionMsg.textContent = `Deleted version ${version} of ${name}.`;
      toast(`Deleted version ${version} of ${name}.`);
    } catch (e) {
      if (signal.aborted) return;
      actionMsg.className = 'action-msg error';
      actionMsg.textContent = `Version ${version} of ${name} was not deleted: ${e.message}`;
    }
    shown = '';
    await refresh();
  }

  function deleteControl(name, v) {
    const key = `${name}\0${v.version}`;
    const box = h('span', {class: 'inline delete-version'});
    const label = `version ${v.version} of ${name}`;
    const show = () => {
      if (asking !== key) {
        return replace(box, h('button', {type: 'button', class: 'danger', dataset: {deleteVersion: v.version},
          'aria-label': `Delete ${label}`, onclick: () => { asking = key; show(); box.querySelector('button').focus(); }}, 'Delete'));
      }
      replace(box, h('span', null, `Delete ${label}?`),
        h('button', {type: 'button', class: 'danger', dataset: {confirmDelete: v.version}, onclick: () => deleteVersion(name, v.version)}, 'Yes, delete it'),
        h('button', {type: 'button', onclick: () => { asking = ''; show(); }}, 'Keep it'));
    };
    show();
    return box;
  }

  async function refresh() {
    try {
      const {modules} = await api('GET', '/v1/modules', undefined, {signal});
      const details = await Promise.all(modules.map((m) => api('GET', `/v1/modules/${encodeURIComponent(m.name)}`, undefined, {signal})));
      if (signal.aborted) return;
      errorBox.hidden = true;
      const sig = JSON.stringify(details);
      if (sig === shown) return;
      shown = sig;
      if (details.length === 0) {
        replace(list, h('p', {class: 'empty'}, 'No modules yet. Upload one with ',
          h('code', null, 'wasmflow module push FILE --name NAME'), '.'));
        return;
      }
      replace(list, details.map((d) => moduleCard(d, deleteControl)));
    } catch (e) {
      if (signal.aborted) return;
      errorBox.hidden = false;
      errorBox.textContent = `Could not load the modules: ${e.message}`;
    }
  }
  every(5000, signal, refresh);
}

function moduleCard(mod, deleteControl) {
  const id = `module-${mod.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const total = mod.versions.reduce((n, v) => n + (v.runs?.total ?? 0), 0);
  return h('section', {class: 'card module', 'aria-labelledby': id, dataset: {module: mod.name}},
    h('div', {class: 'card-head'},
      h('h2', {id}, mod.name),
      h('a', {href: `#/runs${query({module: mod.name})}`}, `${total} run${total === 1 ? '' : 's'}`)),
    table({
      caption: `Versions of ${mod.name}`,
      className: 'versions',
      columns: ['Version', 'Digest', 'Size', 'Workflows', 'Uploaded', 'Runs', 'Pinned', ''],
      rows: mod.versions.map((v) => ({
        props: {dataset: {version: v.version}},
        cells: [
          h('strong', null, v.version),
          h('code', {title: v.digest}, shortDigest(v.digest)),
          fmtSize(v.size),
          h('ul', {class: 'plain'}, v.workflows.map((w) => h('li', null, h('code', null, w.name), ' ',
            h('a', {href: `#/start${query({module: mod.name, version: v.version, workflow: w.name})}`,
              'aria-label': `Start a run of ${w.name} with version ${v.version} of ${mod.name}`}, 'start')))),
          time(v.created_at),
          runCounts(mod.name, v),
          pinnedRuns(mod.name, v),
          deleteControl(mod.name, v),
        ],
      })),
    }));
}

function runCounts(name, v) {
  const rc = v.runs ?? {total: 0, statuses: {}};
  const link = (status, label) => h('a', {href: `#/runs${query({module: name, version: v.version, status})}`}, label);
  return h('div', {class: 'run-counts'},
    link('', `${rc.total} run${rc.total === 1 ? '' : 's'}`),
    h('span', {class: 'mini-badges'}, STATUSES.filter((s) => rc.statuses[s] > 0).map((s) =>
      link(s, badge(s, h('span', {class: 'count'}, ` ${rc.statuses[s]}`))))));
}

// pinnedRuns shows how many runs still need the version (those that have
// not finished, and failed ones), linking to them in the list of runs.
function pinnedRuns(name, v) {
  const n = v.pinned_runs ?? 0;
  if (n === 0) return h('span', {class: 'muted pinned', dataset: {pinned: '0'}}, 'none');
  return h('a', {href: `#/runs${query({module: name, version: v.version})}`, class: 'pinned', dataset: {pinned: String(n)},
    title: 'Runs that have not finished, or failed and may be retried: the version cannot be deleted while they need it'},
  `${n} run${n === 1 ? '' : 's'} pinned`);
}

function fmtSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}
