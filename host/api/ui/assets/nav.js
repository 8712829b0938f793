// Where the app is: pages live in the URL's fragment, "#/runs?status=waiting".

// here returns the page's path (/runs) and query (status=waiting).
export function here() {
  const frag = location.hash.replace(/^#/, '') || '/runs';
  const [path, q = ''] = frag.split('?');
  return {path, query: new URLSearchParams(q)};
}

// setQuery changes the query of the current page's URL without rendering
// the page again (the page updates itself), so that a link or a reload
// shows the same view.
export function setQuery(params) {
  const {path} = here();
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, '', `#${path}${s ? `?${s}` : ''}`);
}

// every calls f now and then every ms milliseconds while the page is
// visible, one call at a time, until signal aborts.
export function every(ms, signal, f) {
  let timer;
  let running = false;
  const tick = async () => {
    if (signal.aborted) return;
    if (!document.hidden && !running) {
      running = true;
      try { await f(); } catch { /* f reports its own errors */ } finally { running = false; }
    }
    if (!signal.aborted) timer = setTimeout(tick, ms);
  };
  signal.addEventListener('abort', () => clearTimeout(timer));
  tick();
}
