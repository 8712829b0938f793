// The timeline model: what a run's events say about its activations,
// steps, effects, timers and signals. Pure functions, no DOM.

import {fmtDuration, fmtTime} from './dom.js';

const SUSPENSIONS = {
  interrupt: 'interrupted at a checkpoint (a shutdown, a cancel or its time budget); runnable again at once',
  sleep: 'sleeping on a durable timer',
  signal: 'waiting for a signal',
  retry: 'waiting to retry a step',
  children: 'waiting for child runs',
};

// model folds events, in seq order, into:
//   activations: [{n, owner, at, start, end: {kind, reason?, at} | null}]
//   steps: [{seq, name, tries: [{attempt, at, activation, outcome, ms, error}], checkpoints, cursor, checkpointAt}]
//   effects: [{key, name, step, status, executions, uncertain, error, at}]
//   timers: [{name, signal?, at, wakeAt, firedAt}]
//   signals: [{id, name, at, consumedAt}]
//   items: [{e, activation, text, uncertain?}] — one per event, for the timeline list;
//     text is a string, or an array of strings and {run: ID} parts, which the
//     page shows as links to those runs (the children of child events)

// How an activation began (activation_started's data.start), for people.
const startWords = {
  replay: 'replaying from the module as uploaded',
  image: 'from the init image, replaying the journal',
  snapshot: 'restored from the snapshot where the guest parked',
  warm: 'in the instance the guest parked in',
};
export function model(events) {
  const m = {activations: [], steps: [], effects: [], timers: [], signals: [], items: []};
  const stepBySeq = new Map();
  const lastStep = new Map(); // step name → its latest started record
  const effectByKey = new Map();
  const timerByName = new Map();
  const signalByID = new Map();
  let act = null;

  const openTry = (step) => step?.tries.at(-1)?.outcome === 'running' ? step.tries.at(-1) : null;
  const closeOpenTries = (at, outcome) => {
    for (const s of m.steps) {
      const t = openTry(s);
      if (t) Object.assign(t, {outcome, ms: at ? new Date(at) - new Date(t.at) : null});
    }
  };
  const endActivation = (end) => {
    if (act && !act.end) act.end = end;
  };

  for (const e of events) {
    const d = e.data ?? {};
    const item = {e, activation: act?.n ?? null, text: ''};
    switch (e.type) {
      case 'run_created':
        item.text = 'Run created';
        break;
      case 'activation_started': {
        if (act && !act.end) {
          // No suspension or end was recorded: the process died or lost
          // its lease, and this claim took the run over. When that
          // happened is not known.
          act.end = {kind: 'lost', at: null};
          closeOpenTries(null, 'lost');
        }
        act = {n: d.activation, owner: d.owner, at: e.at, start: d.start ?? '', end: null};
        m.activations.push(act);
        item.activation = act.n;
        item.text = `Activation ${d.activation} ${m.activations.length > 1 ? 'resumed the run' : 'started'} on process ${d.owner}` +
          (startWords[d.start] ? `, ${startWords[d.start]}` : '') +
          (d.snapshot_unusable ? ` (its snapshot was not used: ${d.snapshot_unusable})` : '') +
          (d.replayed_steps > 0 ? `; it replayed ${d.replayed_steps} ${d.replayed_steps === 1 ? 'step' : 'steps'}` : '');
        break;
      }
      case 'step_started': {
        let s = stepBySeq.get(d.seq);
        if (!s) {
          s = {seq: d.seq, name: e.step, tries: [], checkpoints: 0, cursor: undefined, checkpointAt: null};
          stepBySeq.set(d.seq, s);
          m.steps.push(s);
        }
        const open = openTry(s);
        if (open) Object.assign(open, {outcome: 'interrupted', ms: new Date(e.at) - new Date(open.at)});
        s.tries.push({attempt: d.attempt, at: e.at, activation: act?.n ?? null, outcome: 'running', ms: null, error: ''});
        lastStep.set(e.step, s);
        item.text = `Step ${e.step} ${d.resumed ? 'resumed' : 'started'} (attempt ${d.attempt})` +
          (d.cursor !== undefined ? ` from cursor ${JSON.stringify(d.cursor)}` : '');
        break;
      }
      case 'step_completed':
      case 'step_failed': {
        const t = openTry(lastStep.get(e.step));
        const ok = e.type === 'step_completed';
        if (t) Object.assign(t, {outcome: ok ? 'completed' : 'failed', ms: d.duration_ms, error: d.error ?? ''});
        item.text = ok
          ? `Step ${e.step} completed in ${fmtDuration(d.duration_ms)} (attempt ${d.attempt})`
          : `Step ${e.step} failed in ${fmtDuration(d.duration_ms)} (attempt ${d.attempt}): ${d.error}${d.retrying ? ' — it will be retried' : ''}${d.resuming ? ' — it resumes from its cursor, in the same attempt' : ''}`;
        break;
      }
      case 'retry_scheduled':
        item.text = `Attempt ${d.attempt} of step ${e.step} scheduled for ${fmtTime(d.at)}`;
        break;
      case 'checkpoint': {
        const s = lastStep.get(e.step);
        if (s) Object.assign(s, {checkpoints: s.checkpoints + (d.checkpoints ?? 1), cursor: d.cursor, checkpointAt: e.at});
        item.text = `Checkpoint of step ${e.step}${d.checkpoints > 1 ? ` (${d.checkpoints} in a row, shown as one)` : ''}, cursor ${JSON.stringify(d.cursor)}`;
        break;
      }
      case 'effect_started':
      case 'effect_completed':
      case 'effect_failed':
      case 'effect_uncertain': {
        let f = effectByKey.get(d.key);
        if (!f) {
          f = {key: d.key, name: d.effect, step: e.step, status: 'started', executions: 0, uncertain: false, error: '', at: e.at};
          effectByKey.set(d.key, f);
          m.effects.push(f);
        }
        if (e.type === 'effect_started') {
          f.executions = Math.max(f.executions, d.execution ?? f.executions + 1);
          f.status = 'started';
          item.text = `Effect ${d.effect} started (execution ${d.execution}) with idempotency key ${d.key}`;
        } else if (e.type === 'effect_completed') {
          f.status = 'completed';
          item.text = `Effect ${d.effect} completed (key ${d.key})`;
        } else if (e.type === 'effect_failed') {
          f.status = 'failed';
          f.error = d.error ?? '';
          item.text = `Effect ${d.effect} failed (key ${d.key}): ${d.error}`;
        } else {
          f.uncertain = true;
          f.executions = Math.max(f.executions, d.executions ?? 0);
          item.uncertain = true;
          item.text = `Effect ${d.effect} is uncertain: it began but its outcome was never recorded, so it runs again with the same idempotency key ${d.key}`;
        }
        break;
      }
      case 'timer_scheduled': {
        const signal = d.timer?.startsWith('signal:') ? d.timer.slice(7) : null;
        const t = {name: d.timer, signal, at: e.at, wakeAt: d.wake_at, firedAt: null};
        timerByName.set(d.timer, t);
        m.timers.push(t);
        item.text = signal
          ? `Waiting for signal ${signal}, at most ${fmtDuration(d.timeout_ms)} (until ${fmtTime(d.wake_at)})`
          : `Timer ${d.timer} set for ${fmtDuration(d.duration_ms)} (fires at ${fmtTime(d.wake_at)})`;
        break;
      }
      case 'timer_fired': {
        const t = timerByName.get(d.timer);
        if (t) t.firedAt = e.at;
        item.text = d.timer?.startsWith('signal:') ? `The wait for signal ${d.timer.slice(7)} timed out` : `Timer ${d.timer} fired`;
        break;
      }
      case 'signal_received': {
        const s = {id: d.id, name: d.name, at: e.at, consumedAt: null};
        signalByID.set(d.id, s);
        m.signals.push(s);
        item.text = `Signal ${d.name} received`;
        break;
      }
      case 'signal_consumed': {
        const s = signalByID.get(d.id);
        if (s) s.consumedAt = e.at;
        item.text = `Signal ${d.signal} delivered to the run`;
        break;
      }
      case 'child_started':
        item.text = ['Child run ', {run: d.child}, ` of workflow ${d.workflow} started (module ${d.module} version ${d.version})`];
        break;
      case 'child_completed':
        item.text = ['Child run ', {run: d.child}, ` (${d.workflow}) completed`];
        break;
      case 'child_failed':
        item.text = ['Child run ', {run: d.child}, ` (${d.workflow}) ${d.status === 'cancelled' ? 'was cancelled' : 'failed'}${d.error ? `: ${d.error}` : ''}`];
        break;
      case 'run_suspended':
        endActivation({kind: 'suspended', reason: d.reason, at: e.at, wakeAt: d.wake_at});
        if (d.reason === 'interrupt') closeOpenTries(e.at, 'interrupted');
        item.text = `Suspended: ${SUSPENSIONS[d.reason] ?? d.reason}${d.cause ? ` (cause: ${d.cause.replaceAll('_', ' ')})` : ''}${d.wake_at && d.reason !== 'interrupt' ? ` until ${fmtTime(d.wake_at)}` : ''}`;
        break;
      case 'run_completed':
        endActivation({kind: 'completed', at: e.at});
        item.text = 'Run completed';
        break;
      case 'run_failed':
        endActivation({kind: 'failed', at: e.at});
        item.text = `Run failed${d.error ? `: ${d.error}` : ''}`;
        break;
      case 'run_cancelled':
        endActivation({kind: 'cancelled', at: e.at});
        closeOpenTries(e.at, 'cancelled');
        item.text = 'Run cancelled';
        break;
      case 'run_retried':
        item.text = `Run retried: attempt ${d.attempt} starts from the failed step`;
        break;
      case 'run_upgraded':
        item.text = `Run upgraded from version ${d.from?.version} to version ${d.to?.version}: its code made the journal's ${d.position} calls in the same order`;
        break;
      case 'change_recorded':
        item.text = `Took the new code of change ${d.change} (patch marker recorded)`;
        break;
      case 'nondeterminism':
        item.text = `Nondeterminism at ${d.position}: the journal has ${d.expected?.kind} ${d.expected?.name}, the code asked for ${d.found?.kind} ${d.found?.name}`;
        break;
      default:
        item.text = e.type.replaceAll('_', ' ');
    }
    m.items.push(item);
  }
  return m;
}

// describeEnd says in words how an activation ended.
export function describeEnd(end) {
  if (!end) return 'running';
  switch (end.kind) {
    case 'suspended': return `suspended: ${end.reason}`;
    case 'lost': return 'lost (the process died or lost its lease)';
    default: return end.kind;
  }
}

// progressBar finds a done/total pair in a progress value: an object with
// exactly two numbers, the smaller one first or named so.
export function progressPair(p) {
  if (!p || typeof p !== 'object' || Array.isArray(p)) return null;
  const nums = Object.entries(p).filter(([, v]) => typeof v === 'number' && Number.isFinite(v));
  if (nums.length !== 2) return null;
  const [[, a], [, b]] = nums;
  const [done, total] = a <= b ? [a, b] : [b, a];
  return total > 0 && done >= 0 ? {done, total} : null;
}
