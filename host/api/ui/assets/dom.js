// DOM and formatting helpers. Every text from the API goes into the page as
// text nodes or attribute values, never as HTML.

// h builds an element: h('a', {href: '#/runs', class: 'x'}, 'Runs').
// Props starting with "on" are listeners; value and checked are set as
// properties; null, undefined and false leave a prop or a child out.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'value') value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// replace swaps el's children for children.
export function replace(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

const dateTime = new Intl.DateTimeFormat('en-CA', {
  year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

// fmtTime shows an RFC 3339 time in the browser's time zone, to the second.
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return dateTime.format(d).replace(',', '');
}

// fmtClock shows the time of day with milliseconds, for timelines.
export function fmtClock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

// time is a <time> element showing fmtTime, with the exact instant as title.
export function time(iso, fmt = fmtTime) {
  if (!iso) return h('span', {class: 'muted'}, '—');
  return h('time', {datetime: iso, title: iso}, fmt(iso));
}

// fmtDuration shows milliseconds as a short human duration.
export function fmtDuration(ms) {
  if (ms == null || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

// between is the duration from one RFC 3339 time to another, in ms.
export function between(from, to) {
  return new Date(to).getTime() - new Date(from).getTime();
}

// json shows a JSON value: pretty when it is an object or an array.
export function json(v, pretty = true) {
  if (v === undefined) return '';
  return JSON.stringify(v, null, pretty && v !== null && typeof v === 'object' ? 2 : 0);
}

// badge is a run or step status, in words and colour.
export function badge(status, extra) {
  return h('span', {class: `badge status-${status}`, dataset: {status}}, status, extra);
}

// shortDigest shows the start of a sha256 digest.
export function shortDigest(d) {
  return d ? d.replace(/^sha256:/, '').slice(0, 12) : '';
}

// table builds a table whose cells carry their column's name, so that
// narrow screens can show each row as a card.
export function table({caption, columns, rows, className}) {
  return h('div', {class: 'table-wrap'},
    h('table', {class: `data ${className ?? ''}`},
      caption && h('caption', {class: 'sr-only'}, caption),
      h('thead', null, h('tr', null, columns.map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', null, rows.map((r) => {
        const tr = r.cells ? h('tr', r.props, r.cells.map((c, i) => h('td', {'data-label': columns[i]}, c))) : r;
        return tr;
      }))));
}

// section is a titled part of a page.
export function section(title, id, ...children) {
  return h('section', {class: 'card', 'aria-labelledby': id},
    h('h2', {id}, title), children);
}
