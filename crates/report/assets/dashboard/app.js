// The sweep dashboard: one page (no build step, no dependency but the vendored ECharts) over the JSON API of
// `sweep serve`, or over the same JSON embedded in a report's dashboard.html (`window` has no server then).
//
// Routes (in the URL's #): #/ the sweeps; #/s/KEY one sweep; #/s/KEY/t/ID one trial.
// Live: every POLL_MS the page asks only for what changed since its last cursor (?after=N), merges it, and redraws
// with the charts' zoom, brush and legend kept (options are merged, never replaced).
'use strict';
(function () {
  const POLL_MS = Number(new URLSearchParams(location.search).get('poll')) || 2000;
  const STATIC = (function () {
    const el = document.getElementById('sweep-data');
    return el ? JSON.parse(el.textContent) : null;
  })();
  const COLORS = {
    completed: '#2563eb', pruned: '#9ca3af', diverged: '#dc2626', failed: '#7c3aed', stopped: '#b45309',
    running: '#16a34a', waiting: '#ca8a04', pending: '#d1d5db',
  };
  const STATUSES = Object.keys(COLORS);
  const BEST = '#e67814';
  const app = document.getElementById('app');

  // ------------------------------------------------------------------------------------------------------------
  // Helpers

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c != null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function num(x) {
    if (x == null || !isFinite(x)) return '–';
    if (Number.isInteger(x)) return String(x);
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2).replace(/\.?0+e/, 'e');
    return String(Number(x.toPrecision(4)));
  }
  function val(v) { return typeof v === 'number' ? num(v) : v == null ? '–' : String(v); }
  function duration(s) {
    if (s == null || !isFinite(s)) return '–';
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
  }
  function clock(t) { return t == null ? '–' : new Date(t * 1000).toLocaleString(); }
  let objective = { metric: 'val_acc', mode: 'max', label: 'objective', percent: false };
  // One format for an objective everywhere (the list, the sweep page, the table, the charts): a fraction shown in
  // percent as `35.00 %` when the objective says so (an accuracy), else the number.
  function objIn(o, v) { return v == null ? '–' : o && o.percent ? (100 * v).toFixed(2) + ' %' : num(v); }
  function obj(v) { return objIn(objective, v); }
  function better(a, b) { return objective.mode === 'min' ? a < b : a > b; }

  async function api(path) {
    if (STATIC) {
      const key = path.split('?')[0];
      if (key in STATIC) return STATIC[key];
      throw new Error('this page is a static snapshot (sweep report): open it with `sweep serve` for ' + key);
    }
    const r = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    let body;
    try { body = await r.json(); } catch (e) { body = { error: r.status + ' ' + r.statusText }; }
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  // What the browser test and the page-load measurement read.
  const hook = (window.sweepDashboard = { page: null, ready: false, views: {}, updates: 0, trials: 0, loadMs: null, errors: [], seen: [] });
  window.addEventListener('error', (e) => hook.errors.push(String(e.message)));

  // ------------------------------------------------------------------------------------------------------------
  // Routing

  let page = null; // the current page's { stop() }
  function crumbs(parts) {
    const nav = document.getElementById('crumbs');
    nav.replaceChildren(...parts.flatMap((p, i) => (i ? [el('span', { class: 'sep' }, '›'), p] : [p])));
  }
  function live(text, stale) {
    const l = document.getElementById('live');
    l.textContent = STATIC ? 'static snapshot (sweep report)' : text;
    l.classList.toggle('stale', !!stale);
  }
  function route() {
    if (page) page.stop();
    hook.ready = false;
    hook.views = {};
    hook.seen = [];
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    if (parts[0] === 's' && parts[1] && parts[2] === 't' && parts[3]) page = trialPage(parts[1], parts[3]);
    else if (parts[0] === 's' && parts[1]) page = sweepPage(parts[1]);
    else if (STATIC && STATIC.start) { location.replace('#/s/' + encodeURIComponent(STATIC.start)); return; }
    else page = listPage();
  }
  window.addEventListener('hashchange', route);

  function poller(fn) {
    let timer = null, stopped = false;
    async function loop() {
      try {
        await fn();
        for (const e of app.querySelectorAll(':scope > .error')) e.remove();
        live('updated ' + new Date().toLocaleTimeString());
      } catch (e) {
        live(e instanceof TypeError ? 'cannot reach the server (' + e.message + ')' : String(e.message), true);
        if (!hook.ready) showError(e);
      }
      if (!stopped && !STATIC) timer = setTimeout(loop, POLL_MS);
    }
    loop();
    return () => { stopped = true; clearTimeout(timer); };
  }
  function showError(e) {
    if (!app.querySelector('.error')) app.prepend(el('p', { class: 'error' }, String(e.message || e)));
  }

  // ------------------------------------------------------------------------------------------------------------
  // The list of sweeps

  function listPage() {
    hook.page = 'list';
    crumbs([el('span', {}, 'sweeps')]);
    app.replaceChildren(el('h1', {}, 'Sweeps'), el('p', { class: 'muted' }, 'Loading…'));
    const stop = poller(async () => {
      const sweeps = await api('/api/sweeps');
      const rows = sweeps.map((s) => {
        const c = s.counts;
        const done = c.completed + c.diverged + c.failed + c.stopped;
        return el('tr', {},
          el('td', {}, el('a', { href: '#/s/' + encodeURIComponent(s.key) }, s.name)),
          el('td', { class: 'muted' }, s.dir),
          el('td', {}, el('span', { class: 'state ' + s.state, title: s.error || '' }, s.state)),
          el('td', { class: 'num' }, `${done} / ${s.total}`),
          el('td', { class: 'num' }, c.running),
          el('td', { class: 'num' }, c.pruned),
          el('td', { class: 'num' }, c.pending + c.waiting),
          el('td', { class: 'num' }, s.best ? objIn(s.objective, s.best.objective) : '–'),
          el('td', { class: 'num' }, duration(s.elapsed)),
          el('td', { class: 'num' }, s.state === 'running' ? duration(s.eta) : '–'));
      });
      const table = el('table', { class: 'list' },
        el('thead', {}, el('tr', {}, ['sweep', 'directory', 'state', 'finished', 'running', 'pruned', 'left', 'best', 'elapsed', 'time left']
          .map((h, i) => el('th', { class: i > 2 ? 'num' : null }, h)))),
        el('tbody', {}, rows));
      app.replaceChildren(el('h1', {}, 'Sweeps'),
        sweeps.length ? table : el('p', { class: 'muted' }, 'No results directory found under the served directories yet (a sweep appears once it writes sweep.json).'));
      hook.trials = sweeps.reduce((n, s) => n + s.total, 0);
      hook.views = { list: sweeps.length };
      hook.ready = true;
    });
    return { stop };
  }

  // ------------------------------------------------------------------------------------------------------------
  // One sweep

  function chart(node) {
    const c = echarts.init(node, null, { renderer: 'canvas' });
    new ResizeObserver(() => c.resize()).observe(node);
    return c;
  }

  function sweepPage(key) {
    hook.page = 'sweep';
    const started = performance.now();
    const S = {
      key, detail: null, trials: new Map(), list: [], cursor: 0, curves: new Map(), curveCursor: 0,
      sel: null, shown: new Set(STATUSES), sort: { col: 'number', asc: true }, filters: {}, historyX: 'time', hvX: 'trial',
    };
    crumbs([el('a', { href: '#/' }, 'sweeps'), el('span', {}, key)]);
    // Layout: summary, then the views.
    const summary = el('div', { class: 'summary' });
    const cards = {};
    function card(id, title, extra, cls) {
      const body = el('div', { class: 'chart ' + (cls || ''), id: 'chart-' + id });
      const note = el('p', { class: 'note' });
      const wide = ['table', 'slices', 'intermediate', 'parallel'].includes(id);
      const c = el('section', { class: 'card' + (wide ? ' wide' : ''), id: 'view-' + id },
        el('div', { class: 'bar' }, el('h2', {}, title), extra || null), id === 'table' ? null : body, note);
      cards[id] = { section: c, body, note };
      return c;
    }
    const xSelect = el('select', { onchange: (e) => { S.historyX = e.target.value; views.history.update(true); } },
      el('option', { value: 'time' }, 'against time'), el('option', { value: 'number' }, 'against trial number'));
    const clearSel = el('button', { onclick: () => { views.parallel.clearBrush(); } , hidden: true }, 'clear the brush');
    app.replaceChildren(
      el('h1', {}, key), summary,
      el('div', { class: 'grid' },
        card('history', 'Optimization history', xSelect),
        card('importance', 'Hyperparameter importance'),
        card('parallel', 'Parallel coordinates', clearSel, 'tall'),
        card('intermediate', 'Intermediate values'),
        card('slices', 'Slices'),
        card('table', 'Trials')));

    const views = {
      history: historyView(S, cards.history),
      importance: importanceView(S, cards.importance),
      parallel: parallelView(S, cards.parallel, (sel) => {
        S.sel = sel;
        hook.selected = sel ? sel.size : null;
        clearSel.hidden = !sel;
        for (const v of ['history', 'intermediate', 'slices', 'table']) views[v].update(false);
      }),
      intermediate: intermediateView(S, cards.intermediate),
      slices: slicesView(S, cards.slices),
      table: tableView(S, cards.table),
    };
    S.views = views;
    // A sweep of several objectives gets two more views once its detail has a front: the front and the hypervolume.
    const hvSelect = el('select', { onchange: (e) => { S.hvX = e.target.value; views.hypervolume.update(true); } },
      el('option', { value: 'trial' }, 'against trials'), el('option', { value: 'epochs' }, 'against epochs'));
    function addParetoViews(front) {
      // Two objectives: the front beside the history; more: the history beside the hypervolume, the panels below.
      const wide = front.objectives.length > 2;
      const f = card('front', 'Pareto front');
      const h = card('hypervolume', 'Hypervolume', hvSelect);
      if (wide) f.classList.add('wide');
      if (wide) cards.history.section.after(h, f);
      else cards.history.section.after(f, h);
      views.front = frontView(S, cards.front);
      views.hypervolume = hypervolumeView(S, cards.hypervolume);
    }
    let first = true, pending = false, lastDraw = 0;
    async function tick() {
      const [d, t, c] = await Promise.all([
        api(`/api/sweeps/${encodeURIComponent(key)}`),
        api(`/api/sweeps/${encodeURIComponent(key)}/trials?after=${S.cursor}`),
        api(`/api/sweeps/${encodeURIComponent(key)}/curves?after=${S.curveCursor}`),
      ]);
      const changed = first || t.reset || t.trials.length > 0 || c.reset || c.curves.length > 0;
      S.detail = d;
      objective = d.objective;
      if (d.front && !views.front) addParetoViews(d.front);
      if (t.reset) S.trials.clear();
      for (const x of t.trials) S.trials.set(x.id, x);
      S.cursor = t.cursor;
      if (c.reset) S.curves.clear();
      for (const x of c.curves) S.curves.set(x.id, x);
      S.curveCursor = c.cursor;
      hook.cursor = S.cursor;
      renderSummary(S, summary);
      hook.state = d.state;
      hook.counts = d.counts;
      const recorded = d.total - d.counts.running - d.counts.waiting - d.counts.pending;
      if (hook.seen[hook.seen.length - 1] !== recorded) hook.seen.push(recorded);
      // A big sweep's redraw costs time: after one that took T, the next waits at least 4 T (the data are merged
      // meanwhile, and drawn at the next poll).
      if (!changed && !pending) return;
      if (!first && performance.now() - lastDraw < 4 * (hook.updateMs || 0)) {
        pending = true;
        return;
      }
      pending = false;
      const drawing = S.cursor;
      S.list = [...S.trials.values()].sort((a, b) => (a.number ?? 1e12) - (b.number ?? 1e12) || (a.id < b.id ? -1 : 1));
      // Ready once every chart has drawn its first data (ECharts renders large series progressively).
      const drawn = first ? Object.values(views).map((v) => v.drawn()) : null;
      const t0 = performance.now();
      hook.viewMs = {};
      // One view per task, so that no single task holds the page for long at 10,000 trials; the parallel
      // coordinates first: they hold the brush the other views filter by.
      for (const v of ['parallel', 'history', 'front', 'hypervolume', 'importance', 'intermediate', 'slices', 'table']) {
        if (stopped) return;
        if (!views[v]) continue;
        const t1 = performance.now();
        views[v].update(first);
        hook.viewMs[v] = Math.round(performance.now() - t1);
        await new Promise((r) => setTimeout(r, 0));
      }
      hook.updateMs = performance.now() - t0;
      // Every view now shows the trials up to this cursor (a deferred redraw leaves it behind `hook.cursor`).
      hook.drawnCursor = drawing;
      lastDraw = performance.now();
      hook.trials = S.trials.size;
      hook.updates += 1;
      if (first) {
        first = false;
        Promise.all(drawn).then(() => {
          hook.loadMs = performance.now() - started;
          hook.ready = true;
        });
      }
    }
    let stopped = false;
    const stop = poller(tick);
    return {
      stop() {
        stopped = true;
        stop();
        for (const v of Object.values(views)) v.dispose();
      },
    };
  }

  function drawnOf(c) {
    return () => new Promise((resolve) => {
      let done = false;
      const fin = () => { if (!done) { done = true; resolve(); } };
      c.on('finished', fin);
      setTimeout(fin, 8000);
    });
  }

  function renderSummary(S, node) {
    const d = S.detail, c = d.counts;
    const total = Math.max(1, d.total);
    const order = ['completed', 'pruned', 'diverged', 'failed', 'stopped', 'running', 'waiting', 'pending'];
    const bar = el('div', { class: 'progress', title: 'trials by state' },
      order.filter((s) => c[s]).map((s) => el('span', { style: `width:${(100 * c[s]) / total}%;background:${COLORS[s]}`, title: `${s}: ${c[s]}` })));
    const legend = el('div', { class: 'legend' }, order.filter((s) => c[s]).map((s) => el('span', {}, el('i', { style: 'background:' + COLORS[s] }), `${s} ${c[s]}`)));
    const kv = (pairs) => el('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    const sched = d.schedule && d.schedule.method !== 'grid'
      ? `${d.schedule.method}` + (d.schedule.rung_epochs.length ? `, eta ${d.schedule.eta}, rungs at epochs ${d.schedule.rung_epochs.join(', ')}` : '')
      : d.schedule ? 'grid' : 'unknown (no grid.toml)';
    const left = el('section', { class: 'card' },
      el('div', { class: 'bar' }, el('h2', {}, 'Progress'), el('span', { class: 'state ' + d.state }, d.state)),
      d.error ? el('p', { class: 'error' }, d.error) : null,
      bar, legend,
      kv([
        ['directory', el('code', {}, d.dir)],
        ['trials', `${d.total - c.pending - c.waiting - c.running} of ${d.total} recorded, ${c.running} running, ${c.pending + c.waiting} left`],
        ['search', sched],
        d.front
          ? ['objectives', d.front.objectives.map((o) => `${o.metric} (${o.mode})`).join(', ') + ` — ${d.front.members.length} trials on the Pareto front`]
          : ['objective', `${d.objective.label} (${d.objective.metric}, ${d.objective.mode})`],
        ['started', clock(d.started)],
        ['elapsed', duration(d.elapsed)],
        ['time left', d.state === 'running' ? (d.eta != null ? 'about ' + duration(d.eta) : 'not known yet') : '–'],
      ]));
    const b = d.best_trial;
    const right = el('section', { class: 'card' },
      el('div', { class: 'bar' }, el('h2', {}, 'Best configuration'),
        b ? el('a', { href: `#/s/${encodeURIComponent(S.key)}/t/${encodeURIComponent(b.trial.id)}` }, b.trial.id) : null),
      b ? kv([
        [d.objective.label, el('b', {}, obj(b.trial.objective))],
        // A command sweep's program measures what it likes: only the built-in network has a test accuracy.
        ...(b.test_acc != null || d.objective.label === 'validation accuracy'
          ? [['test accuracy', b.test_acc != null ? obj(b.test_acc) : 'not measured yet (filled in when the sweep ends)']] : []),
        ['epochs', `${num(b.trial.epochs_run)} (best ${num(b.trial.best_epoch)})`],
        ...Object.entries(b.config).map(([k, v]) => [k, val(v)]),
      ]) : el('p', { class: 'muted' }, 'No trial has completed yet.'));
    node.replaceChildren(left, right);
  }

  /// Whether a trial passes the brush and the status filter.
  function visible(S, t) {
    return S.shown.has(t.status) && (!S.sel || S.sel.has(t.id));
  }

  // Optimization history: each finished trial's objective against time (or trial number), and the best so far.
  function historyView(S, card) {
    const c = chart(card.body);
    c.setOption({
      animation: false,
      grid: { left: 60, right: 20, top: 30, bottom: 60 },
      tooltip: { trigger: 'item', formatter: (p) => p.data && p.data[2] ? `${p.data[2]}<br>${obj(p.data[1])}` : '' },
      legend: { top: 0 },
      xAxis: { type: 'time', name: '', nameLocation: 'middle', nameGap: 28 },
      yAxis: { type: 'value', name: objective.label, scale: true, axisLabel: { formatter: (v) => obj(v) } },
      dataZoom: [{ type: 'inside', xAxisIndex: 0 }, { type: 'slider', xAxisIndex: 0, height: 16, bottom: 8 }],
      series: [
        { name: 'completed', type: 'scatter', large: true, largeThreshold: 2000, symbolSize: 6, itemStyle: { color: COLORS.completed, opacity: 0.7 }, data: [] },
        { name: 'pruned', type: 'scatter', large: true, largeThreshold: 2000, symbolSize: 4, itemStyle: { color: COLORS.pruned, opacity: 0.5 }, data: [] },
        { name: 'filtered out', type: 'scatter', large: true, largeThreshold: 2000, symbolSize: 3, itemStyle: { color: '#e5e7eb' }, data: [] },
        { name: 'best so far', type: 'line', step: 'end', showSymbol: false, lineStyle: { color: BEST, width: 2 }, itemStyle: { color: BEST }, data: [] },
      ],
    });
    let n = 0;
    return {
      update(axisChanged) {
        const byTime = S.historyX === 'time';
        const x = (t) => byTime ? (t.ended != null ? t.ended * 1000 : null) : t.number;
        const done = S.list.filter((t) => t.objective != null && t.status !== 'running' && x(t) != null && S.shown.has(t.status));
        done.sort((a, b) => x(a) - x(b));
        const pt = (t) => [x(t), t.objective, t.id];
        const sel = (t) => !S.sel || S.sel.has(t.id);
        const best = [];
        let b = null;
        for (const t of done) {
          if (t.status !== 'completed') continue;
          if (b == null || better(t.objective, b)) b = t.objective;
          best.push([x(t), b]);
        }
        if (best.length) best.push([x(done[done.length - 1]), b]);
        const opt = {
          series: [
            { data: done.filter((t) => t.status === 'completed' && sel(t)).map(pt) },
            { data: done.filter((t) => t.status !== 'completed' && sel(t)).map(pt) },
            { data: done.filter((t) => !sel(t)).map(pt) },
            { data: best },
          ],
        };
        if (axisChanged) opt.xAxis = { type: byTime ? 'time' : 'value', name: byTime ? '' : 'trial number', min: byTime ? null : 'dataMin' };
        opt.yAxis = { name: objective.label };
        c.setOption(opt);
        n = done.length;
        hook.views.history = n;
        card.note.textContent = n
          ? `${n} finished trials with a ${objective.label}; the orange line is the best completed trial so far. Zoom with the wheel or the slider.`
          : 'No trial has finished yet.';
      },
      drawn: drawnOf(c),
      dispose() { c.dispose(); },
    };
  }

  // The Pareto front of a sweep of several objectives (computed by the server, the report's figure's numbers): every
  // trial that takes part, the front's members in orange; with two objectives they are joined along the front by the
  // boundary of what they dominate, with more one panel per pair of objectives.
  function frontView(S, card) {
    const c = chart(card.body);
    let built = null, pairs = [];
    const label = (o) => `${o.metric} (${o.mode})`;
    // The worse of two values of an objective: the staircase turns there.
    const worse = (o, a, b) => (o.mode === 'min' ? Math.max(a, b) : Math.min(a, b));
    function setup(f) {
      const n = f.objectives.length;
      pairs = [];
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push([i, j]);
      const single = pairs.length === 1;
      const cols = single ? 1 : 3, rows = Math.ceil(pairs.length / cols);
      card.body.style.height = single ? '' : 280 * rows + 40 + 'px';
      c.resize();
      const grid = [], xAxis = [], yAxis = [], series = [];
      pairs.forEach(([i, j], k) => {
        const col = k % cols, row = Math.floor(k / cols);
        grid.push(single ? { left: 70, right: 20, top: 30, bottom: 50 }
          : { left: `${(100 * col) / cols + 6}%`, width: `${100 / cols - 9}%`, top: 280 * row + 40, height: 200 });
        xAxis.push({ gridIndex: k, type: 'value', scale: true, name: label(f.objectives[i]), nameLocation: 'middle', nameGap: 26, axisLabel: { formatter: num } });
        yAxis.push({ gridIndex: k, type: 'value', scale: true, name: label(f.objectives[j]), axisLabel: { formatter: num } });
        const on = { xAxisIndex: k, yAxisIndex: k };
        series.push(
          Object.assign({ name: 'dominated', type: 'scatter', large: true, largeThreshold: 2000, symbolSize: 5, itemStyle: { color: COLORS.pruned, opacity: 0.6 }, data: [] }, on),
          Object.assign({ name: 'filtered out', type: 'scatter', large: true, largeThreshold: 2000, symbolSize: 3, itemStyle: { color: '#e5e7eb' }, data: [] }, on),
          Object.assign({ name: 'on the front', type: 'scatter', symbolSize: 8, itemStyle: { color: BEST }, z: 3, data: [] }, on));
        if (single) series.push(Object.assign({ name: 'front line', type: 'line', showSymbol: false, silent: true, lineStyle: { color: BEST, width: 2 }, data: [] }, on));
      });
      c.setOption({
        animation: false, grid, xAxis, yAxis, series,
        legend: { top: 0, data: ['on the front', 'dominated'] },
        tooltip: { trigger: 'item', formatter: (p) => p.data && p.data[2] ? `${p.data[2]}<br>${p.data[3]}` : '' },
      }, { notMerge: true });
      built = f.objectives.map(label).join();
    }
    return {
      update() {
        const f = S.detail.front;
        if (!f) return;
        if (built !== f.objectives.map(label).join()) setup(f);
        const series = [];
        let shown = 0;
        for (const [i, j] of pairs) {
          const groups = { dominated: [], 'filtered out': [], front: [] };
          for (const p of f.points) {
            const t = S.trials.get(p.id);
            if (t && !S.shown.has(t.status)) continue;
            const text = f.objectives.map((o, k) => `${o.metric} ${num(p.values[k])}`).join(', ');
            const g = S.sel && !S.sel.has(p.id) ? 'filtered out' : p.rank === 0 ? 'front' : 'dominated';
            groups[g].push([p.values[i], p.values[j], p.id, text]);
          }
          shown = groups.dominated.length + groups['filtered out'].length + groups.front.length;
          series.push({ data: groups.dominated }, { data: groups['filtered out'] }, { data: groups.front });
          if (pairs.length === 1) {
            // The members in order of the first objective, each joined to the next through the corner worse than both.
            const m = groups.front.map((q) => [q[0], q[1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
            const line = [];
            m.forEach((q, k) => {
              if (k) line.push([worse(f.objectives[i], m[k - 1][0], q[0]), worse(f.objectives[j], m[k - 1][1], q[1])]);
              line.push(q);
            });
            series.push({ data: line });
          }
        }
        c.setOption({ series });
        hook.views.front = shown;
        hook.views.frontMembers = f.members.length;
        card.note.textContent = `${f.points.length} trials take part (completed or pruned, with every objective); ${f.members.length} are on the front (orange): ` +
          'no other trial is as good in every objective and better in one' +
          (pairs.length === 1 ? '. The line joins them along the front.' : '. One panel per pair of objectives.');
      },
      drawn: drawnOf(c),
      dispose() { c.dispose(); },
    };
  }

  // The hypervolume after each trial that takes part in the front, against trials or epochs trained: it never falls,
  // and a step up is a trial that pushed the front forward.
  function hypervolumeView(S, card) {
    const c = chart(card.body);
    c.setOption({
      animation: false,
      grid: { left: 70, right: 20, top: 30, bottom: 50 },
      legend: { top: 0 },
      tooltip: { trigger: 'item', formatter: (p) => p.data && p.data[2] ? `${p.data[2]}<br>hypervolume ${num(p.data[1])}` : '' },
      xAxis: { type: 'value', name: 'trials that take part', nameLocation: 'middle', nameGap: 28, min: 0 },
      yAxis: { type: 'value', name: 'hypervolume', scale: true, axisLabel: { formatter: num } },
      dataZoom: [{ type: 'inside', xAxisIndex: 0 }],
      series: [
        { name: 'hypervolume', type: 'line', step: 'end', showSymbol: false, lineStyle: { color: COLORS.completed, width: 2 }, itemStyle: { color: COLORS.completed }, data: [] },
        { name: 'pushed the front forward', type: 'scatter', symbolSize: 6, itemStyle: { color: BEST }, data: [] },
      ],
    });
    return {
      update(axisChanged) {
        const h = S.detail.hypervolume, f = S.detail.front;
        if (!h || !f) return;
        const byEpochs = S.hvX === 'epochs';
        const pts = h.points.map((p) => [byEpochs ? p.epochs : p.trial, p.hypervolume, p.id]);
        const raised = pts.filter((p, k) => k === 0 || p[1] > pts[k - 1][1]);
        const opt = { series: [{ data: pts }, { data: raised }] };
        if (axisChanged) opt.xAxis = { name: byEpochs ? 'epochs trained by every trial so far' : 'trials that take part' };
        c.setOption(opt);
        hook.views.hypervolume = pts.length;
        const reference = f.objectives.map((o, k) => `${o.metric} = ${num(h.reference[k])}`).join(', ');
        card.note.textContent = pts.length
          ? `The volume of objective space the trials so far dominate, after each of the ${pts.length} that take part (in the order they were recorded). ` +
            `Reference point: ${reference} (each objective's worst over those trials, 10 % of its span further).`
          : 'No trial takes part in the front yet.';
      },
      drawn: drawnOf(c),
      dispose() { c.dispose(); },
    };
  }

  // fANOVA importance (computed by the server, the same numbers as the report's figure).
  function importanceView(S, card) {
    const c = chart(card.body);
    c.setOption({
      animation: false,
      grid: { left: 140, right: 60, top: 10, bottom: 30 },
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      xAxis: { type: 'value', max: 1, axisLabel: { formatter: (v) => Math.round(v * 100) + ' %' } },
      yAxis: { type: 'category', data: [] },
      series: [{ type: 'bar', data: [], itemStyle: { color: COLORS.completed }, label: { show: true, position: 'right', formatter: (p) => (100 * p.value).toFixed(1) + ' %' } }],
    });
    return {
      update() {
        const imp = S.detail.importance;
        const params = imp ? imp.params.slice().reverse() : [];
        c.setOption({ yAxis: { data: params.map((p) => p.name) }, series: [{ data: params.map((p) => p.importance) }] });
        hook.views.importance = params.length;
        card.note.textContent = imp
          ? `fANOVA (random forest of the ${imp.trials} completed trials${imp.trials < imp.of ? ` sampled from ${imp.of}` : ''}): each axis's share of the variance its main effect explains.`
          : 'Needs at least 4 completed trials whose objective varies, and at least one axis.';
      },
      drawn: drawnOf(c),
      dispose() { c.dispose(); },
    };
  }

  function axisSpec(a) {
    if (a.kind === 'name') return { type: 'category', data: a.values.map(String) };
    return { type: a.log ? 'log' : 'value', scale: true };
  }

  // Parallel coordinates over every axis and the objective; brushing an axis filters the other views.
  function parallelView(S, card, onSelect) {
    const c = chart(card.body);
    let axes = null, shown = [];
    function setup() {
      axes = S.detail.axes;
      const dims = axes.map((a, i) => Object.assign({ dim: i, name: a.short || a.name, nameTextStyle: { fontSize: 11 } }, axisSpec(a)));
      dims.push({ dim: axes.length, name: objective.metric, scale: true, axisLabel: { formatter: (v) => obj(v) } });
      c.setOption({
        animation: false,
        parallel: { left: 50, right: 90, top: 40, bottom: 30, parallelAxisDefault: { areaSelectStyle: { width: 16 } } },
        parallelAxis: dims,
        visualMap: {
          type: 'continuous', dimension: axes.length, right: 0, top: 'center', calculable: false, itemHeight: 140,
          text: ['best', ''], inRange: { color: ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'] },
          formatter: (v) => obj(v),
        },
        tooltip: { trigger: 'item', formatter: (p) => shown[p.dataIndex] ? shown[p.dataIndex].id + '<br>' + obj(shown[p.dataIndex].objective) : '' },
        series: [{ type: 'parallel', progressive: 2000, smooth: false, lineStyle: { width: 1, opacity: 0.45 }, inactiveOpacity: 0.03, activeOpacity: 0.9, data: [] }],
      }, { notMerge: true });
    }
    // The brushed trials (null when no axis is brushed: every line is then 'normal', none 'inactive').
    function selection() {
      try {
        const series = c.getModel().getSeries()[0];
        if (!series || series.getRawIndicesByActiveState('inactive').length === 0) return null;
        return new Set(series.getRawIndicesByActiveState('active').map((i) => shown[i].id));
      } catch (e) {
        hook.errors.push('brush: ' + e.message);
        return null;
      }
    }
    c.on('axisareaselected', () => onSelect(selection()));
    return {
      update() {
        if (!axes) setup();
        shown = S.list.filter((t) => t.objective != null && S.shown.has(t.status) && (t.status === 'completed' || t.status === 'pruned'));
        const data = shown.map((t) => axes.map((a) => { const v = t.values[a.name]; return a.kind === 'name' ? String(v) : v; }).concat([t.objective]));
        const vs = shown.map((t) => t.objective);
        const opt = { series: [{ data }] };
        if (vs.length) opt.visualMap = { min: Math.min(...vs), max: Math.max(...vs) };
        c.setOption(opt);
        // The brush stays through updates; new trials inside it join the selection.
        S.sel = selection();
        hook.selected = S.sel ? S.sel.size : null;
        hook.views.parallel = data.length;
        card.note.textContent = axes.length
          ? `${data.length} completed and pruned trials, coloured by ${objective.label}. Drag along an axis to brush it: the other views then show only the trials brushed.` +
            (axes.some((a) => a.log) ? ' Log-spaced axes are drawn on a log scale.' : '')
          : 'The sweep has no axes.';
      },
      clearBrush() {
        const n = (c.getOption().parallelAxis || []).length;
        for (let i = 0; i < n; i++) c.dispatchAction({ type: 'axisAreaSelect', parallelAxisIndex: i, intervals: [] });
        onSelect(null);
      },
      drawn: drawnOf(c),
      dispose() { c.dispose(); },
    };
  }

  // Intermediate values: the objective after each epoch of every trial; pruned faint, rung ends marked. Beyond
  // MAX_CURVES finished curves, the best ones and an even sample of the rest are drawn (running ones always).
  const MAX_CURVES = 2000;
  function intermediateView(S, card) {
    const c = chart(card.body);
    const groups = ['pruned', 'diverged', 'completed', 'running', 'filtered out', 'best'];
    const style = {
      pruned: { color: COLORS.pruned, opacity: 0.25, width: 1 },
      diverged: { color: COLORS.diverged, opacity: 0.3, width: 1 },
      completed: { color: COLORS.completed, opacity: 0.6, width: 1.2 },
      running: { color: COLORS.running, opacity: 0.9, width: 1.6 },
      'filtered out': { color: '#e5e7eb', opacity: 0.3, width: 1 },
      best: { color: BEST, opacity: 1, width: 3 },
    };
    c.setOption({
      animation: false,
      grid: { left: 60, right: 20, top: 30, bottom: 40 },
      legend: { top: 0, data: groups },
      tooltip: { trigger: 'item', formatter: (p) => p.data && p.data.id ? p.data.id : '' },
      xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 26, min: 0 },
      yAxis: { type: 'value', name: objective.label, scale: true, axisLabel: { formatter: (v) => obj(v) } },
      dataZoom: [{ type: 'inside', xAxisIndex: 0 }, { type: 'inside', yAxisIndex: 0 }],
      series: groups.map((g) => ({
        name: g, type: 'lines', coordinateSystem: 'cartesian2d', polyline: true, large: g !== 'best' && g !== 'running', largeThreshold: 500,
        progressive: 2000, lineStyle: style[g], itemStyle: { color: style[g].color }, data: [],
      })).concat([
        { name: 'rungs', type: 'line', data: [], markLine: { symbol: 'none', silent: true, lineStyle: { color: '#1e8c3c', type: 'dashed' }, label: { formatter: 'rung end' }, data: [] } },
        // Lines series do not widen the axes: two invisible points at the data's corners do, with round ticks.
        { name: 'extent', type: 'scatter', symbolSize: 0, silent: true, tooltip: { show: false }, data: [] },
      ]),
    });
    return {
      update() {
        const best = S.detail.best_trial && S.detail.best_trial.trial.id;
        const out = Object.fromEntries(groups.map((g) => [g, []]));
        let n = 0;
        const all = S.list.filter((t) => S.shown.has(t.status) && S.curves.has(t.id) && S.curves.get(t.id).points.length > 0);
        let drawn = all;
        if (all.length > MAX_CURVES) {
          const live = (t) => t.status === 'running' || t.status === 'waiting' || t.id === best;
          const ranked = all.filter((t) => !live(t) && t.objective != null).sort((a, b) => (better(a.objective, b.objective) ? -1 : 1));
          const keep = new Set(all.filter(live).map((t) => t.id));
          for (const t of ranked.slice(0, MAX_CURVES / 10)) keep.add(t.id);
          const rest = all.filter((t) => !keep.has(t.id));
          const step = rest.length / Math.max(1, MAX_CURVES - keep.size);
          for (let i = 0; i < rest.length && keep.size < MAX_CURVES; i += step) keep.add(rest[Math.floor(i)].id);
          drawn = all.filter((t) => keep.has(t.id));
        }
        for (const t of drawn) {
          const cv = S.curves.get(t.id);
          const g = S.sel && !S.sel.has(t.id) ? 'filtered out'
            : t.id === best ? 'best'
            : t.status === 'running' || t.status === 'waiting' ? 'running'
            : t.status === 'completed' ? 'completed'
            : t.status === 'pruned' || t.status === 'stopped' ? 'pruned' : 'diverged';
          // A single point still shows (a segment of no length is invisible): draw it as a tiny step.
          const pts = cv.points.length === 1 ? [cv.points[0], [cv.points[0][0] + 0.02, cv.points[0][1]]] : cv.points;
          out[g].push({ coords: pts, id: t.id });
          n += 1;
        }
        const rungs = (S.detail.schedule && S.detail.schedule.rung_epochs) || [];
        let x1 = Math.max(1, ...rungs), y0 = Infinity, y1 = -Infinity;
        for (const g of groups) for (const d of out[g]) for (const p of d.coords) { x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); }
        c.setOption({
          yAxis: { name: objective.label },
          series: groups.map((g) => ({ data: out[g] })).concat([
            { markLine: { data: rungs.map((e) => ({ xAxis: e })) } },
            { data: isFinite(y0) ? [[0, y0], [x1, y1]] : [] },
          ]),
        });
        hook.views.intermediate = n;
        hook.views.curves = all.length;
        const sampled = n < all.length ? ` (the best ${MAX_CURVES / 10}, the running ones and an even sample of the others: ${n} of ${all.length})` : '';
        card.note.textContent = n
          ? `${objective.label} after each epoch of ${n} trials${sampled}, each curve at most 48 points; pruned trials faint, the best in orange` +
            (rungs.length ? `, rung ends (epochs ${rungs.join(', ')}) dashed.` : '.')
          : 'No trial has finished an epoch yet.';
      },
      drawn: drawnOf(c),
      dispose() { c.dispose(); },
    };
  }

  // Slice plots: the objective against each axis.
  function slicesView(S, card) {
    const c = chart(card.body);
    let built = null;
    function setup() {
      const axes = S.detail.axes;
      const cols = Math.min(3, Math.max(1, axes.length));
      const rows = Math.ceil(axes.length / cols) || 1;
      card.body.style.height = 250 * rows + 'px';
      c.resize();
      const grid = [], xAxis = [], yAxis = [], series = [];
      axes.forEach((a, i) => {
        const col = i % cols, row = Math.floor(i / cols);
        grid.push({ left: `${(100 * col) / cols + 5}%`, width: `${100 / cols - 8}%`, top: 250 * row + 30, height: 170 });
        xAxis.push(Object.assign({ gridIndex: i, name: a.label, nameLocation: 'middle', nameGap: 24, nameTextStyle: { fontSize: 11 } }, axisSpec(a)));
        yAxis.push({ gridIndex: i, type: 'value', scale: true, axisLabel: { formatter: (v) => obj(v), fontSize: 10 } });
        for (const [g, color, size] of [['completed', COLORS.completed, 6], ['pruned', COLORS.pruned, 4], ['filtered out', '#e5e7eb', 3]]) {
          series.push({ name: g, type: 'scatter', xAxisIndex: i, yAxisIndex: i, large: true, largeThreshold: 2000, symbolSize: size, itemStyle: { color, opacity: 0.7 }, data: [] });
        }
      });
      c.setOption({ animation: false, tooltip: { trigger: 'item', formatter: (p) => p.data && p.data[2] ? `${p.data[2]}<br>${val(p.data[0])}: ${obj(p.data[1])}` : '' }, legend: { top: 0, data: ['completed', 'pruned'] }, grid, xAxis, yAxis, series }, { notMerge: true });
      built = axes;
    }
    return {
      update() {
        if (!built) setup();
        const series = [];
        let n = 0;
        for (const a of built) {
          const groups = { completed: [], pruned: [], 'filtered out': [] };
          for (const t of S.list) {
            if (t.objective == null || !S.shown.has(t.status) || (t.status !== 'completed' && t.status !== 'pruned')) continue;
            const v = t.values[a.name];
            if (v == null || (a.log && !(v > 0))) continue;
            const g = S.sel && !S.sel.has(t.id) ? 'filtered out' : t.status === 'completed' ? 'completed' : 'pruned';
            groups[g].push([a.kind === 'name' ? String(v) : v, t.objective, t.id]);
            n += 1;
          }
          series.push({ data: groups.completed }, { data: groups.pruned }, { data: groups['filtered out'] });
        }
        c.setOption({ series });
        hook.views.slices = built.length ? n / built.length : 0;
        card.note.textContent = built.length
          ? `${objective.label} of every trial against each axis (log axes where the grid is log-spaced).`
          : 'The sweep has no axes.';
      },
      drawn: drawnOf(c),
      dispose() { c.dispose(); },
    };
  }

  // The trial table: sortable, filterable by state and by any value; only the rows in view are in the page.
  function parseFilter(text) {
    text = text.trim();
    if (!text) return null;
    let m;
    if ((m = text.match(/^(-?[\d.e+-]+)\s*\.\.\s*(-?[\d.e+-]+)$/i))) { const lo = +m[1], hi = +m[2]; return (v) => typeof v === 'number' && v >= lo && v <= hi; }
    if ((m = text.match(/^(>=|<=|>|<|=)\s*(-?[\d.e+-]+)$/i))) {
      const x = +m[2];
      return { '>': (v) => v > x, '<': (v) => v < x, '>=': (v) => v >= x, '<=': (v) => v <= x, '=': (v) => v === x }[m[1]];
    }
    const low = text.toLowerCase();
    return (v) => String(v == null ? '' : typeof v === 'number' ? num(v) : v).toLowerCase().includes(low);
  }

  function tableView(S, card) {
    const ROW = 28;
    const section = card.section;
    const toolbar = el('div', { class: 'toolbar' });
    const count = el('span', { class: 'grow muted' });
    const chips = STATUSES.map((s) => el('label', { class: 'chip' },
      el('input', { type: 'checkbox', checked: true, 'data-status': s, onchange: (e) => { if (e.target.checked) S.shown.add(s); else S.shown.delete(s); refreshAll(); } }),
      el('span', { class: 'st ' + s }, s)));
    const exportBtn = (fmt) => el('button', { onclick: () => download(fmt) }, fmt.toUpperCase());
    toolbar.append(...chips, count, el('span', { class: 'muted' }, 'export the rows shown:'), exportBtn('csv'), exportBtn('json'),
      STATIC ? null : el('a', { href: `/api/sweeps/${encodeURIComponent(S.key)}/export.csv` }, 'all trials (CSV)'));
    const vt = el('div', { class: 'vt' });
    const head = el('div', { class: 'head' });
    const filters = el('div', { class: 'filters' });
    const body = el('div', { class: 'body' });
    const spacer = el('div', { class: 'spacer' });
    body.append(spacer);
    vt.append(head, filters, body);
    section.append(toolbar, vt);
    let cols = null, rows = [];
    function refreshAll() { for (const v of ['history', 'parallel', 'intermediate', 'slices']) if (S.views && S.views[v]) S.views[v].update(false); update(); }
    function columns() {
      const axes = S.detail.axes;
      const c = [
        { key: 'number', label: '#', get: (t) => t.number, w: '48px' },
        { key: 'id', label: 'trial', get: (t) => t.id, w: '110px', link: true },
        { key: 'status', label: 'state', get: (t) => t.status, w: '86px' },
        ...axes.map((a) => ({ key: 'v:' + a.name, label: a.short || a.name, get: (t) => t.values[a.name], w: '1fr' })),
        { key: 'objective', label: objective.metric, get: (t) => t.objective, w: '1fr', fmt: obj },
        { key: 'epochs_run', label: 'epochs', get: (t) => t.epochs_run, w: '64px' },
        { key: 'rung', label: 'rung', get: (t) => (t.rung == null ? null : t.rung + 1), w: '52px' },
        { key: 'seconds', label: 'seconds', get: (t) => t.seconds, w: '76px' },
        { key: 'ended', label: 'ended', get: (t) => t.ended, w: '150px', fmt: (v) => (v == null ? '–' : new Date(v * 1000).toLocaleString()) },
      ];
      const tpl = c.map((x) => x.w).join(' ');
      for (const n of [head, filters]) n.style.gridTemplateColumns = tpl;
      head.replaceChildren(...c.map((x) => el('div', { 'data-col': x.key, title: 'sort by ' + x.label, onclick: () => {
        S.sort = { col: x.key, asc: S.sort.col === x.key ? !S.sort.asc : x.key === 'objective' ? objective.mode === 'min' : true };
        update();
      } }, x.label)));
      filters.replaceChildren(...c.map((x) => el('input', { placeholder: x.key === 'status' ? '' : 'filter', title: 'a value, >x, <x, =x or lo..hi', 'data-col': x.key,
        oninput: (e) => { S.filters[x.key] = parseFilter(e.target.value); update(); } })));
      c.tpl = tpl;
      return c;
    }
    function download(fmt) {
      let text, type;
      if (fmt === 'json') { text = JSON.stringify(rows, null, 1); type = 'application/json'; }
      else {
        const q = (s) => { s = s == null ? '' : String(s); return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
        const hdr = cols.map((c) => (c.key.startsWith('v:') ? c.key.slice(2) : c.key));
        text = [hdr.join(',')].concat(rows.map((t) => cols.map((c) => q(c.get(t))).join(','))).join('\n') + '\n';
        type = 'text/csv';
      }
      const a = el('a', { href: URL.createObjectURL(new Blob([text], { type })), download: `${S.key}-trials.${fmt}` });
      document.body.append(a);
      a.click();
      a.remove();
    }
    function paint() {
      const top = body.scrollTop, h = body.clientHeight || 420;
      const from = Math.max(0, Math.floor(top / ROW) - 10), to = Math.min(rows.length, Math.ceil((top + h) / ROW) + 10);
      const best = S.detail.best_trial && S.detail.best_trial.trial.id;
      const out = [];
      for (let i = from; i < to; i++) {
        const t = rows[i];
        const r = el('div', { class: 'row' + (t.id === best ? ' best' : ''), style: `top:${i * ROW}px;grid-template-columns:${cols.tpl}`, 'data-id': t.id });
        for (const c of cols) {
          const v = c.get(t);
          const text = c.fmt ? c.fmt(v) : val(v);
          r.append(c.link ? el('div', {}, el('a', { href: `#/s/${encodeURIComponent(S.key)}/t/${encodeURIComponent(t.id)}` }, text))
            : c.key === 'status' ? el('div', { class: 'st ' + v }, text) : el('div', {}, text));
        }
        out.push(r);
      }
      spacer.replaceChildren(...out);
    }
    body.addEventListener('scroll', () => requestAnimationFrame(paint));
    function update() {
      if (!cols) cols = columns();
      const active = Object.entries(S.filters).filter(([, f]) => f);
      rows = S.list.filter((t) => visible(S, t) && active.every(([k, f]) => f(cols.find((c) => c.key === k).get(t))));
      const sc = cols.find((c) => c.key === S.sort.col) || cols[0];
      const dir = S.sort.asc ? 1 : -1;
      rows.sort((a, b) => {
        const x = sc.get(a), y = sc.get(b);
        if (x == null && y == null) return 0;
        if (x == null) return 1;
        if (y == null) return -1;
        return (x < y ? -1 : x > y ? 1 : 0) * dir;
      });
      for (const h of head.children) {
        h.classList.toggle('sorted', h.dataset.col === sc.key);
        h.classList.toggle('asc', h.dataset.col === sc.key && S.sort.asc);
      }
      spacer.style.height = rows.length * ROW + 'px';
      count.textContent = `${rows.length} of ${S.list.length} trials` + (S.sel ? ' (brushed in the parallel coordinates)' : '');
      paint();
      hook.views.table = rows.length;
    }
    return { update: () => update(), drawn: () => Promise.resolve(), dispose() {} };
  }

  // ------------------------------------------------------------------------------------------------------------
  // One trial

  function trialPage(key, id) {
    hook.page = 'trial';
    crumbs([el('a', { href: '#/' }, 'sweeps'), el('a', { href: '#/s/' + encodeURIComponent(key) }, key), el('span', {}, id)]);
    const head = el('div', { class: 'summary' });
    const curves = el('div', { class: 'chart', id: 'chart-trial' });
    const loss = el('div', { class: 'chart short', id: 'chart-loss' });
    const log = el('pre', { class: 'log' });
    const rungs = el('div');
    app.replaceChildren(el('h1', {}, 'Trial ', el('code', {}, id)), head,
      el('div', { class: 'grid' },
        el('section', { class: 'card' }, el('h2', {}, 'Per epoch'), curves),
        el('section', { class: 'card' }, el('h2', {}, 'Loss per iteration'), loss),
        el('section', { class: 'card' }, el('h2', {}, 'Rung records'), rungs),
        el('section', { class: 'card' }, el('h2', {}, 'Log'), log)));
    const c1 = chart(curves), c2 = chart(loss);
    c1.setOption({
      animation: false, legend: { top: 0 }, tooltip: { trigger: 'axis' }, grid: { left: 60, right: 60, top: 30, bottom: 40 },
      xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 26, min: 0 },
      yAxis: [{ type: 'value', name: 'accuracy', scale: true, axisLabel: { formatter: (v) => obj(v) } }, { type: 'value', name: 'loss', scale: true }],
      dataZoom: [{ type: 'inside' }],
      series: [
        { name: 'validation', type: 'line', data: [], itemStyle: { color: BEST } },
        { name: 'train', type: 'line', data: [], itemStyle: { color: COLORS.completed } },
        { name: 'loss', type: 'line', yAxisIndex: 1, data: [], itemStyle: { color: '#6b7280' }, lineStyle: { type: 'dashed' } },
      ],
    });
    c2.setOption({
      animation: false, tooltip: { trigger: 'axis' }, grid: { left: 60, right: 20, top: 20, bottom: 40 },
      xAxis: { type: 'value', name: 'iteration', nameLocation: 'middle', nameGap: 26 }, yAxis: { type: 'value', scale: true },
      dataZoom: [{ type: 'inside' }, { type: 'slider', height: 14, bottom: 4 }],
      series: [{ type: 'line', showSymbol: false, sampling: 'lttb', data: [], lineStyle: { width: 1 }, itemStyle: { color: '#6b7280' } }],
    });
    let final = false;
    const stop = poller(async () => {
      if (final) return;
      const d = await api(`/api/sweeps/${encodeURIComponent(key)}/trials/${encodeURIComponent(id)}`);
      const t = d.trial;
      final = !['running', 'waiting', 'pending'].includes(t.status);
      const kv = (pairs) => el('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
      head.replaceChildren(
        el('section', { class: 'card' }, el('h2', {}, 'Outcome'), kv([
          ['state', el('span', { class: 'st ' + t.status }, t.status)],
          [objective.label, el('b', {}, obj(t.objective))],
          ['epochs', `${num(t.epochs_run)} (best ${num(t.best_epoch)})`],
          ['rung', t.rung == null ? '–' : String(t.rung + 1)],
          ['seconds', num(t.seconds)],
          ['started', clock(t.started)], ['ended', clock(t.ended)],
          ...(t.gpus ? [['GPUs', t.gpus]] : []),
          ...Object.entries(t.metrics).map(([k, v]) => [k, num(v)]),
        ])),
        el('section', { class: 'card' }, el('h2', {}, 'Configuration'), kv(Object.entries(d.config).map(([k, v]) => [k, val(v)]))));
      const h = d.history;
      c1.setOption({
        series: [
          { data: h.map((e) => [e.epoch, e.metrics[objective.metric]]) },
          { data: h.map((e) => [e.epoch, e.metrics.train_acc]) },
          { data: h.map((e) => [e.epoch, e.metrics.loss]) },
        ],
      });
      c2.setOption({ series: [{ data: d.loss }] });
      rungs.replaceChildren(d.rung_records.length
        ? el('table', { class: 'list' }, el('tr', {}, ['rung', 'epochs', objective.metric, 'seconds'].map((x) => el('th', {}, x))),
          d.rung_records.map((r) => el('tr', {}, el('td', {}, r.rung + 1), el('td', {}, num(r.epochs_run)), el('td', {}, obj(r.objective)), el('td', {}, num(r.seconds)))))
        : el('p', { class: 'muted' }, 'No rung records (a grid sweep, or the first rung is not over).'));
      log.textContent = d.log.map((l) => (l.t ? new Date(l.t * 1000).toLocaleTimeString() + '  ' : '') + l.text).join('\n') || '(nothing yet)';
      hook.views = { history: h.length, loss: d.loss.length };
      hook.ready = true;
    });
    return { stop() { stop(); c1.dispose(); c2.dispose(); } };
  }

  route();
})();
