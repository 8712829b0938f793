// The run page: status, input, output and error; the current step's cursor
// and progress; steps, child runs, effects, activations, timers and
// signals; the parent of a child run; the timeline of events, live from the
// run's event stream; and the actions signal, cancel, retry and upgrade.

import {api, APIError, streamEvents} from './api.js';
import {badge, between, fmtClock, fmtDuration, h, json, replace, section, shortDigest, table, time} from './dom.js';
import {every} from './nav.js';
import {describeEnd, model, progressPair} from './timeline.js';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const path = (id) => `/v1/runs/${encodeURIComponent(id)}`;

export function runPage(main, [id], {signal, toast}) {
  document.title = `Run ${id} · wasmflow`;
  let run = null;
  const events = [];
  let lastSeq = 0;
  let following = false;
  let prefilled = '';

  const statusEl = h('span', {class: 'run-status', id: 'run-status', 'aria-live': 'polite'});
  const liveEl = h('span', {class: 'live', id: 'live', role: 'status'});
  const errorBox = h('p', {class: 'error', role: 'alert', hidden: true});
  const nowEl = h('div');
  const summaryEl = h('div');
  const ioEl = h('div');
  const stepsEl = h('div');
  const childrenEl = h('div');
  const crumbsEl = h('p', {class: 'crumbs'}, h('a', {href: '#/runs'}, '← All runs'));
  const effectsEl = h('div');
  const activationsEl = h('div');
  const waitsEl = h('div');
  const timelineEl = h('ol', {class: 'timeline', id: 'timeline'});

  // Actions.
  const sigName = h('input', {id: 'signal-name', list: 'signal-names', required: true, autocomplete: 'off', spellcheck: 'false'});
  const sigNames = h('datalist', {id: 'signal-names'});
  const sigPayload = h('textarea', {id: 'signal-payload', rows: '3', spellcheck: 'false', placeholder: 'null', 'aria-describedby': 'signal-payload-help'});
  const sigButton = h('button', {type: 'submit', class: 'primary', id: 'send-signal'}, 'Send signal');
  const cancelBox = h('div', {class: 'inline'});
  const retryBtn = h('button', {type: 'button', id: 'retry-run', onclick: () => act('retry', 'Retry requested: the run starts again from its failed step.')}, 'Retry run');
  const actionMsg = h('p', {class: 'action-msg', role: 'status'});
  const upgradeSel = h('select', {id: 'upgrade-version', 'aria-describedby': 'upgrade-help'});
  const upgradeBtn = h('button', {type: 'submit', id: 'upgrade-run'}, 'Upgrade');
  const upgradeMsg = h('div', {class: 'action-msg', id: 'upgrade-result', role: 'status'});
  const upgradeEl = h('form', {id: 'upgrade-form', class: 'stack', hidden: true, onsubmit: upgrade},
    h('div', {class: 'field'}, h('label', {for: 'upgrade-version'}, 'Upgrade to version'),
      h('div', {class: 'inline'}, upgradeSel, upgradeBtn),
      h('small', {id: 'upgrade-help', class: 'muted'},
        'The host replays the run\'s journal against that version\'s code, with no side effects. ',
        'If it makes the same calls in the same order, the run goes on under it; if not, nothing changes and the first difference is shown.')),
    upgradeMsg);
  let versionsOf = ''; // the module whose versions the select lists
  const actionsEl = section('Actions', 'actions-title',
    h('form', {id: 'signal-form', class: 'stack', onsubmit: sendSignal},
      h('div', {class: 'field'}, h('label', {for: 'signal-name'}, 'Signal name'), sigName, sigNames),
      h('div', {class: 'field'}, h('label', {for: 'signal-payload'}, 'Payload (JSON, optional)'), sigPayload,
        h('small', {id: 'signal-payload-help', class: 'muted'}, 'Empty sends null.')),
      h('div', {class: 'actions'}, sigButton)),
    h('div', {class: 'actions'}, cancelBox, retryBtn),
    actionMsg,
    upgradeEl);
  const actionHint = h('p', {class: 'muted', id: 'actions-hint'});
  actionsEl.insertBefore(actionHint, actionsEl.children[1]);

  replace(main,
    crumbsEl,
    h('div', {class: 'page-head'},
      h('h1', null, 'Run ', h('code', {class: 'id'}, id)),
      h('div', {class: 'head-status'}, statusEl, liveEl)),
    errorBox,
    h('div', {class: 'run-layout'},
      h('div', {class: 'run-main'},
        nowEl,
        section('Steps', 'steps-title', stepsEl),
        childrenEl,
        section('Effects', 'effects-title', effectsEl),
        section('Activations', 'activations-title', activationsEl),
        section('Timeline', 'timeline-title',
          h('p', {class: 'muted'}, 'Every event of the run, oldest first, grouped by the activation that recorded it.'),
          timelineEl)),
      h('div', {class: 'run-side'},
        actionsEl,
        section('Run', 'summary-title', summaryEl),
        section('Timers, signals and waits', 'waits-title', waitsEl),
        ioEl)));

  renderCancel(false);

  // --- loading -----------------------------------------------------------

  let loadTimer = null;
  let loading = null;
  let again = false;
  // loadRun reads the run and shows it. A call while a read is under way
  // reads once more after it, so that no change is missed.
  async function loadRun() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          run = await api('GET', path(id), undefined, {signal});
          errorBox.hidden = true;
          renderRun();
        } catch (e) {
          if (signal.aborted) return;
          errorBox.hidden = false;
          errorBox.textContent = e instanceof APIError && e.status === 404
            ? `There is no run ${id}.` : `Could not load the run: ${e.message}`;
        }
      } while (again && !signal.aborted);
      loading = null;
    })();
    return loading;
  }

  function loadSoon() {
    clearTimeout(loadTimer);
    loadTimer = setTimeout(loadRun, 50);
  }

  let drawQueued = false;
  function onEvent(ev) {
    if (ev.seq <= lastSeq) {
      // The stream sends an event again when the host rewrote it (a
      // coalesced checkpoint, an activation_started completed with how the
      // activation began): replace it.
      const i = events.findIndex((e) => e.seq === ev.seq);
      if (i < 0) return;
      events[i] = ev;
    } else {
      events.push(ev);
      lastSeq = ev.seq;
    }
    if (!drawQueued) {
      drawQueued = true;
      requestAnimationFrame(() => {
        drawQueued = false;
        renderEvents();
      });
    }
    loadSoon();
  }

  // follow reads the event stream until the run has finished, reconnecting
  // after errors from the last event seen.
  async function follow() {
    if (following) return;
    following = true;
    let delay = 500;
    try {
      while (!signal.aborted) {
        setLive('live', 'Live');
        try {
          await streamEvents(id, lastSeq, onEvent, signal);
          await loadRun();
          if (run && TERMINAL.has(run.status)) {
            setLive('done', 'Finished');
            return;
          }
        } catch (e) {
          if (signal.aborted || (e instanceof APIError && (e.status === 401 || e.status === 404))) return;
        }
        setLive('retrying', 'Reconnecting…');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10000);
      }
    } finally {
      following = false;
    }
  }

  function setLive(state, text) {
    liveEl.className = `live ${state}`;
    liveEl.textContent = text;
  }

  // --- actions -----------------------------------------------------------

  async function sendSignal(e) {
    e.preventDefault();
    const name = sigName.value.trim();
    const payload = sigPayload.value.trim();
    if (payload) {
      try { JSON.parse(payload); } catch (err) {
        actionMsg.className = 'action-msg error';
        actionMsg.textContent = `The payload is not valid JSON: ${err.message}`;
        sigPayload.focus();
        return;
      }
    }
    await act(`signals/${encodeURIComponent(name)}`, `Signal ${name} sent.`, payload || undefined);
  }

  async function act(what, done, body) {
    actionMsg.className = 'action-msg';
    actionMsg.textContent = 'Sending…';
    try {
      await api('POST', `${path(id)}/${what}`, body, {signal});
      actionMsg.textContent = done;
      toast(done);
      await loadRun();
      follow();
    } catch (err) {
      if (signal.aborted) return;
      actionMsg.className = 'action-msg error';
      actionMsg.textContent = `${err.code ? `${err.code}: ` : ''}${err.message}`;
    }
  }

  // upgrade asks the host to re-pin the run to the chosen version, and
  // shows the new version or where that version's code diverges.
  async function upgrade(e) {
    e.preventDefault();
    const version = upgradeSel.value;
    if (!version) return;
    upgradeMsg.className = 'action-msg';
    replace(upgradeMsg, 'Checking the journal against version ', version, '…');
    try {
      const r = await api('POST', `${path(id)}/upgrade`, {version}, {signal});
      replace(upgradeMsg, `Upgraded: the run is now on version ${r?.module_version ?? version}`,
        r?.module_digest ? h('span', {class: 'muted'}, ` (${shortDigest(r.module_digest)})`) : '', '.');
      toast(`Run upgraded to version ${r?.module_version ?? version}.`);
      versionsOf = '';
      await loadRun();
      follow();
    } catch (err) {
      if (signal.aborted) return;
      upgradeMsg.className = 'action-msg error';
      const d = err.details?.divergence;
      if (err.code === 'upgrade_diverged' && d) {
        replace(upgradeMsg, h('p', null, `Not upgraded: version ${version} diverges from the run's journal at position ${d.position}.`),
          h('dl', {class: 'summary divergence', id: 'upgrade-divergence'},
            row('Journal holds', callText(d.journal)),
            row(`Version ${version} asks for`, callText(d.code))),
          h('p', {class: 'muted'}, 'The run stays on its version.'));
      } else {
        replace(upgradeMsg, `Not upgraded: ${err.code ? `${err.code}: ` : ''}${err.message}`);
      }
    }
  }

  // renderUpgrade offers the module's other versions to a run that can
  // still run (failed ones included: a retry runs the new version).
  async function renderUpgrade(r) {
    const open = r.status !== 'completed' && r.status !== 'cancelled';
    upgradeEl.hidden = !open;
    if (!open || versionsOf === `${r.module}\0${r.module_version}`) return;
    versionsOf = `${r.module}\0${r.module_version}`;
    try {
      const mod = await api('GET', `/v1/modules/${encodeURIComponent(r.module)}`, undefined, {signal});
      const others = mod.versions.filter((v) => v.version !== r.module_version);
      replace(upgradeSel, others.map((v) => h('option', {value: v.version}, `${v.version} (${shortDigest(v.digest)})`)));
      upgradeSel.disabled = upgradeBtn.disabled = others.length === 0;
      if (others.length === 0) replace(upgradeSel, h('option', {value: ''}, 'no other version'));
    } catch {
      versionsOf = '';
    }
  }

  function renderCancel(asking) {
    const finished = run && TERMINAL.has(run.status);
    if (!asking) {
      replace(cancelBox, h('button', {type: 'button', class: 'danger', id: 'cancel-run', disabled: !run || finished,
        onclick: () => renderCancel(true)}, 'Cancel run'));
      return;
    }
    const no = h('button', {type: 'button', onclick: () => { renderCancel(false); cancelBox.querySelector('button').focus(); }}, 'Keep it');
    replace(cancelBox, h('span', null, 'Cancel this run?'),
      h('button', {type: 'button', class: 'danger', id: 'confirm-cancel', onclick: async () => {
        renderCancel(false);
        await act('cancel', 'Cancel requested: the run stops at its next checkpoint, or at once if it is not running.');
      }}, 'Yes, cancel it'), no);
    no.focus();
  }

  // --- rendering -----------------------------------------------------------

  function renderRun() {
    const r = run;
    const finished = TERMINAL.has(r.status);
    if (statusEl.firstChild?.dataset.status !== r.status) replace(statusEl, badge(r.status));
    document.title = `Run ${id} (${r.status}) · wasmflow`;

    // Actions follow the status.
    sigButton.disabled = finished;
    sigName.disabled = finished;
    sigPayload.disabled = finished;
    retryBtn.disabled = r.status !== 'failed';
    actionHint.textContent = r.status === 'failed'
      ? 'The run failed: retry it to run it again from its failed step.'
      : finished ? `The run has ${r.status === 'completed' ? 'completed' : 'been cancelled'}: it takes no more signals.` : '';
    actionHint.hidden = !actionHint.textContent;
    if (!cancelBox.querySelector('#confirm-cancel')) renderCancel(false);
    renderUpgrade(r);
    const awaited = (r.waits ?? []).filter((w) => w.kind === 'signal' && w.status === 'waiting').map((w) => w.name);
    replace(sigNames, awaited.map((n) => h('option', {value: n})));
    if (awaited.length && (sigName.value === '' || sigName.value === prefilled) && document.activeElement !== sigName) {
      sigName.value = prefilled = awaited[0];
    }

    renderNow(r);
    renderFamily(r);
    replace(summaryEl, h('dl', {class: 'summary'},
      row('Status', badge(r.status)),
      r.parent && row('Parent', runLink(r.parent)),
      row('Module', h('a', {href: `#/modules`}, r.module), ' ', h('span', {class: 'muted'}, `version ${r.module_version}`)),
      row('Digest', h('code', {title: r.module_digest}, shortDigest(r.module_digest))),
      row('Workflow', r.workflow),
      row('Attempt', String(r.attempt)),
      row('Idempotency key', r.idempotency_key ? h('code', null, r.idempotency_key) : h('span', {class: 'muted'}, 'none')),
      row('Created', time(r.created_at)),
      row('Updated', time(r.updated_at)),
      row('Completed', time(r.completed_at)),
      r.completed_at && row('Took', fmtDuration(between(r.created_at, r.completed_at)))));
    replace(ioEl,
      section('Input', 'input-title', h('pre', {class: 'json', id: 'run-input'}, json(r.input))),
      (r.output !== null || r.status === 'completed') && section('Output', 'output-title', h('pre', {class: 'json', id: 'run-output'}, json(r.output))),
      r.error && section('Error', 'error-title', h('pre', {class: 'error-text', id: 'run-error'}, r.error)));
    renderSteps();
    renderWaits();
  }

  function renderNow(r) {
    if (TERMINAL.has(r.status) && r.progress === null) return replace(nowEl);
    const step = (r.steps ?? []).find((s) => s.status === 'running' || s.status === 'retrying');
    const wait = (r.waits ?? []).find((w) => w.status === 'waiting' || w.status === 'scheduled');
    const pair = progressPair(r.progress);
    replace(nowEl, section(TERMINAL.has(r.status) ? 'Progress' : 'Now', 'now-title',
      h('dl', {class: 'summary', id: 'now'},
        !TERMINAL.has(r.status) && row('Status', badge(r.status), r.status === 'running' ? ' in an activation' : ''),
        step && row('Step', h('strong', null, step.name), h('span', {class: 'muted'}, ` ${step.status}, attempt ${step.attempts}`)),
        step && step.cursor !== null && row('Cursor', h('code', {class: 'cursor', id: 'now-cursor'}, json(step.cursor, false))),
        wait && !step && row(wait.kind === 'timer' ? 'Sleeping on' : 'Waiting for', waitWhat(wait, r.children ?? []),
          wait.wake_at ? h('span', {class: 'muted'}, ' until ', time(wait.wake_at)) : h('span', {class: 'muted'}, ', with no timeout')),
        r.progress !== null && row('Progress',
          pair && h('progress', {value: String(pair.done), max: String(pair.total), 'aria-label': 'Progress'}),
          pair && h('span', null, ` ${Math.floor((100 * pair.done) / pair.total)}% `),
          h('code', {id: 'now-progress'}, json(r.progress, false))))));
  }

  // renderFamily shows the link back to the parent of a child run, and the
  // children of a run that started some, with their status.
  let familyShown = '';
  function renderFamily(r) {
    const kids = r.children ?? [];
    const sig = JSON.stringify([r.parent, kids]);
    if (sig === familyShown) return;
    familyShown = sig;
    replace(crumbsEl, h('a', {href: '#/runs'}, '← All runs'),
      r.parent && [' · ', h('a', {href: runHref(r.parent), id: 'parent-link', dataset: {run: r.parent}}, '↑ Parent run')]);
    if (kids.length === 0) return replace(childrenEl);
    const focused = childrenEl.contains(document.activeElement) ? document.activeElement.dataset.run : null;
    const counts = new Map();
    for (const k of kids) counts.set(k.status, (counts.get(k.status) ?? 0) + 1);
    replace(childrenEl, section('Children', 'children-title',
      h('p', {class: 'muted', id: 'children-summary'}, `${kids.length} child run${kids.length === 1 ? '' : 's'}, oldest first: `,
        [...counts].map(([status, n], i) => [i ? ', ' : '', `${n} ${status}`]),
        ' (', h('a', {href: `#/runs?parent=${encodeURIComponent(r.id)}`, id: 'children-list'}, 'in the list of runs'), ')'),
      table({caption: 'Child runs this run started, oldest first', className: 'children',
        columns: ['Child run', 'Workflow', 'Status'],
        rows: kids.map((k) => ({
          props: {dataset: {child: k.id, status: k.status}},
          cells: [runLink(k.id), k.workflow, badge(k.status)],
        }))})));
    if (focused) childrenEl.querySelector(`a[data-run="${CSS.escape(focused)}"]`)?.focus();
  }

  function renderEvents() {
    const m = model(events);
    renderTimeline(m);
    renderEffects(m);
    renderActivations(m);
    renderSteps(m);
    renderWaits(m);
  }

  let lastModel = model([]);
  function renderSteps(m = lastModel) {
    lastModel = m;
    const journal = run?.steps ?? [];
    if (journal.length === 0 && m.steps.length === 0) {
      return replace(stepsEl, h('p', {class: 'muted'}, 'No steps yet.'));
    }
    // The journal has the steps' status and cursor; the events have each
    // attempt's timing. Match the k-th step named N in both.
    const seen = new Map();
    const rows = (journal.length ? journal : m.steps.map((s) => ({name: s.name, status: s.tries.at(-1)?.outcome, attempts: s.tries.length, cursor: null})))
      .map((s) => {
        const k = seen.get(s.name) ?? 0;
        seen.set(s.name, k + 1);
        const ev = m.steps.filter((x) => x.name === s.name)[k];
        const tries = ev?.tries ?? [];
        return {
          props: {dataset: {step: s.name, status: s.status}},
          cells: [
            h('strong', null, s.name),
            badge(s.status),
            tries.length ? h('ol', {class: 'tries'}, tries.map((t) => h('li', {class: `try-${t.outcome}`},
              h('span', {class: 'nowrap'}, `#${t.attempt} ${outcomeLabel(t)}`), t.ms != null ? ` in ${fmtDuration(t.ms)}` : '',
              t.activation != null ? h('span', {class: 'muted'}, ` · activation ${t.activation}`) : '',
              t.error ? h('div', {class: 'error-text'}, t.error) : '')))
              : h('span', {class: 'muted'}, `${s.attempts} (before this timeline)`),
            s.cursor != null ? h('code', {class: 'cursor'}, json(s.cursor, false)) : h('span', {class: 'muted'}, '—'),
            ev?.checkpoints ? String(ev.checkpoints) : '0',
          ],
        };
      });
    replace(stepsEl, table({caption: 'Steps in journal order', className: 'steps',
      columns: ['Step', 'Status', 'Attempts', 'Cursor', 'Checkpoints'], rows}));
  }

  function renderEffects(m) {
    if (m.effects.length === 0) return replace(effectsEl, h('p', {class: 'muted'}, 'No effects yet.'));
    const uncertain = m.effects.filter((f) => f.uncertain).length;
    replace(effectsEl,
      uncertain > 0 && h('p', {class: 'warning', role: 'note'},
        h('strong', null, `${uncertain} uncertain effect${uncertain > 1 ? 's' : ''}. `),
        'A crash fell between the start of the effect and the record of its outcome, so it ran again with the same idempotency key. ',
        'Check that its receiver deduplicated by that key.'),
      table({caption: 'Effects with their idempotency keys', className: 'effects',
        columns: ['Effect', 'Step', 'Idempotency key', 'Status', 'Executions'],
        rows: m.effects.map((f) => ({
          props: {class: f.uncertain ? 'uncertain' : null, dataset: {key: f.key, uncertain: String(f.uncertain)}},
          cells: [
            h('strong', null, f.name),
            f.step,
            h('code', {class: 'key'}, f.key),
            h('span', null, badge(f.status), f.uncertain && h('span', {class: 'badge uncertain-badge', title: 'ran again with the same key after a crash'}, '⚠ uncertain')),
            String(f.executions),
          ],
        }))}));
  }

  function renderActivations(m) {
    if (m.activations.length === 0) return replace(activationsEl, h('p', {class: 'muted'}, 'Not claimed by any process yet.'));
    replace(activationsEl, table({caption: 'Activations and the process that ran each', className: 'activations',
      columns: ['#', 'Process', 'Started', 'From', 'Ran for', 'Ended'],
      rows: m.activations.map((a) => ({
        props: {dataset: {activation: a.n}},
        cells: [String(a.n), h('code', {class: 'owner'}, a.owner), time(a.at, fmtClock), a.start || h('span', {class: 'muted'}, '—'),
          a.end?.at ? fmtDuration(between(a.at, a.end.at)) : h('span', {class: 'muted'}, a.end ? 'unknown' : 'running'), describeEnd(a.end)],
      }))}));
  }

  function renderWaits(m = lastModel) {
    const waits = run?.waits ?? [];
    const parts = [];
    if (waits.length) {
      parts.push(table({caption: 'Durable timers, signal waits and waits for children', className: 'waits', columns: ['Kind', 'Name', 'Status', 'Wakes at'],
        rows: waits.map((w) => ({cells: [w.kind, h('strong', null, w.name), badge(w.status), time(w.wake_at)]}))}));
    }
    if (m.signals.length) {
      parts.push(table({caption: 'Signals received', className: 'signals', columns: ['Signal', 'Received', 'Delivered'],
        rows: m.signals.map((s) => ({cells: [h('strong', null, s.name), time(s.at, fmtClock),
          s.consumedAt ? time(s.consumedAt, fmtClock) : h('span', {class: 'muted'}, 'pending')]}))}));
    }
    const changes = run?.changes ?? [];
    if (changes.length) {
      parts.push(table({caption: 'Patch markers: the changes whose new code the run took', className: 'changes', columns: ['Change'],
        rows: changes.map((c) => ({cells: [h('code', null, c)]}))}));
    }
    replace(waitsEl, parts.length ? parts : h('p', {class: 'muted'}, 'No timers, signals or waits.'));
  }

  function renderTimeline(m) {
    replace(timelineEl, m.items.map(({e, text, uncertain, activation}) => {
      const head = e.type === 'activation_started';
      return h('li', {class: `ev ev-${e.type}${uncertain ? ' uncertain' : ''}${head ? ' activation' : ''}`,
        dataset: {type: e.type, seq: e.seq, activation: activation ?? ''}},
      h('span', {class: 'ev-time'}, time(e.at, fmtClock)),
      h('span', {class: 'ev-type'}, e.type),
      h('span', {class: 'ev-text'}, uncertain && h('strong', null, '⚠ '),
        Array.isArray(text) ? text.map((part) => (typeof part === 'string' ? part : runLink(part.run))) : text));
    }));
  }

  // --- go ----------------------------------------------------------------

  loadRun().then(() => {
    if (!signal.aborted && run) follow();
  });
  // The cursor and progress of a running step change without new events
  // (checkpoints coalesce into one), so a running run is polled too. Every
  // other change of status comes with an event.
  // So are a run's children until they have all ended: only their ends
  // come with events of this run.
  every(1000, signal, async () => {
    if (run && (run.status === 'running' || run.status === 'pending' || (run.children ?? []).some((k) => !TERMINAL.has(k.status)))) {
      await loadRun();
    }
  });
}

function runHref(id) {
  return `#/runs/${encodeURIComponent(id)}`;
}

// runLink is a link to another run's page, showing its id.
function runLink(id) {
  return h('a', {href: runHref(id), class: 'run-link', dataset: {run: id}}, h('code', {class: 'id'}, id));
}

// waitWhat says what a run waits for: a signal, a timer, or its children
// (all of them, or the first to end).
function waitWhat(wait, children) {
  if (wait.kind === 'signal') return h('span', null, 'signal ', h('strong', null, wait.name));
  if (wait.kind === 'timer') return h('span', null, 'timer ', h('strong', null, wait.name));
  if (wait.kind === 'children') {
    const running = children.filter((k) => !TERMINAL.has(k.status)).length;
    return h('span', null, wait.name === 'any' ? 'the first of its children to end' : 'all of its children',
      h('span', {class: 'muted'}, ` (${running} of ${children.length} still running)`));
  }
  return h('span', null, `${wait.kind} `, h('strong', null, wait.name));
}

// callText shows a call of a journal position: its kind and name.
function callText(c) {
  if (!c) return h('span', {class: 'muted'}, 'nothing');
  return h('span', null, `${c.kind} `, c.name ? h('strong', null, c.name) : '');
}

function row(label, ...value) {
  return [h('dt', null, label), h('dd', null, value)];
}

function outcomeLabel(t) {
  return {
    running: '… running', completed: '✓ completed', failed: '✗ failed', interrupted: 'interrupted',
    lost: '✗ lost with its activation', cancelled: 'cancelled',
  }[t.outcome] ?? t.outcome;
}
