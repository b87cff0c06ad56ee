"""The report page's style sheet and script: plain CSS and vanilla JavaScript, no framework.

The script draws every embedded figure with the inlined Plotly, switches figure sets
(one chart per chosen product), sorts tables, highlights the navigation link of the
section in view, and runs the product explorer. Its words come from the page's
``report-i18n`` JSON, so it speaks the report's language.
"""

__all__ = ["CSS", "JS"]

CSS = """
:root {
  --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f5f6f8; --panel: #fff;
  --accent: #2563eb; --accent-soft: #eef4ff; --compare: #d97706; --compare-soft: #fef6e7;
}
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body {
  margin: 0; color: var(--ink); background: var(--bg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC",
    "Microsoft YaHei", sans-serif;
}
.topbar {
  position: sticky; top: 0; z-index: 100; background: rgba(255, 255, 255, 0.96);
  border-bottom: 1px solid var(--line); backdrop-filter: blur(6px);
}
.topbar .inner {
  max-width: 1240px; margin: 0 auto; padding: 0 24px; height: 50px;
  display: flex; align-items: center; gap: 2px; overflow-x: auto;
}
.topbar .brand {
  font-weight: 650; margin-right: auto; padding-right: 16px; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; max-width: 320px;
}
.topbar a {
  color: var(--muted); text-decoration: none; padding: 6px 10px; border-radius: 6px;
  white-space: nowrap; font-size: 13px;
}
.topbar a:hover { background: var(--accent-soft); color: var(--accent); }
.topbar a[aria-current=true] { background: var(--accent-soft); color: var(--accent); font-weight: 600; }
.group-head {
  margin: 34px 0 14px; padding: 0 4px; scroll-margin-top: 66px;
}
.group-head h2 { font-size: 22px; margin: 0 0 4px; }
.subnav { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
.subnav a {
  color: var(--accent); text-decoration: none; font-size: 13px; padding: 3px 10px;
  border: 1px solid var(--line); border-radius: 999px; background: var(--panel);
}
.subnav a:hover { background: var(--accent-soft); }
a.product-link { color: var(--accent); text-decoration: none; }
a.product-link:hover { text-decoration: underline; }
.movers { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; margin-top: 8px; }
@media (max-width: 760px) { .movers { grid-template-columns: 1fr; } }
.movers ol { margin: 4px 0; padding-left: 22px; }
.movers li { margin: 2px 0; }
.up { color: #047857; font-weight: 600; }
.down { color: #b91c1c; font-weight: 600; }
.card.rising .value { color: #047857; }
.card.falling .value { color: #b91c1c; }
.scroll-table { max-height: 460px; overflow: auto; }
.scroll-table th { position: sticky; top: 0; }
main { max-width: 1240px; margin: 0 auto; padding: 24px; }
section {
  background: var(--panel); border: 1px solid var(--line); border-radius: 12px;
  padding: 22px 26px; margin-bottom: 22px; scroll-margin-top: 66px;
}
h1 { font-size: 26px; margin: 0 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 0 0 10px; }
h3 {
  font-size: 12px; margin: 22px 0 8px; color: var(--muted); font-weight: 600;
  text-transform: uppercase; letter-spacing: 0.06em;
}
.headline { font-size: 17px; margin: 4px 0; }
.outlook { font-size: 15px; margin: 4px 0 0; color: #374151; }
.note { color: var(--muted); font-size: 13px; margin: 4px 0 10px; max-width: 900px; }
.cards {
  display: grid; gap: 12px; margin-top: 18px;
  grid-template-columns: repeat(auto-fill, minmax(180px, 1fr));
}
.card {
  border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; background: #fafbfc;
}
.card .label {
  font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.06em;
}
.card .value { font-size: 16px; font-weight: 600; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td {
  padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top;
}
th {
  font-size: 11px; font-weight: 600; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.04em; background: #fafbfc; white-space: nowrap;
}
th .sub { display: block; font-weight: 400; text-transform: none; letter-spacing: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover td { background: #f9fafb; }
tr.best td { background: var(--accent-soft); }
tr.best td:first-child { box-shadow: inset 3px 0 0 var(--accent); font-weight: 600; }
tr.compare td { background: var(--compare-soft); }
tr.compare td:first-child { box-shadow: inset 3px 0 0 var(--compare); }
td.best-cell { color: var(--accent); font-weight: 700; }
td.examples {
  color: var(--muted); font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace;
  max-width: 380px; overflow-wrap: anywhere;
}
.missing { color: #b0b6bf; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:hover { color: var(--ink); }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; color: var(--accent); }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; color: var(--accent); }
details summary { cursor: pointer; color: var(--accent); margin: 4px 0 8px; }
.grid-2 { display: grid; grid-template-columns: 1fr 1fr; gap: 28px; }
@media (max-width: 960px) { .grid-2 { grid-template-columns: 1fr; } }
.figure { width: 100%; }
.controls { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-end; margin: 12px 0; }
.controls label {
  display: flex; flex-direction: column; gap: 3px; font-size: 11px; color: var(--muted);
  text-transform: uppercase; letter-spacing: 0.05em;
}
input, select {
  font: inherit; font-size: 14px; padding: 6px 9px; border: 1px solid #d1d5db;
  border-radius: 7px; background: #fff; color: var(--ink); min-width: 200px;
}
#product-select, #analysis-product { min-width: 320px; }
input:focus, select:focus { outline: 2px solid var(--accent-soft); border-color: var(--accent); }
.chips { margin: 4px 0 6px; }
.chips span {
  display: inline-block; background: #f3f4f6; border-radius: 999px; padding: 3px 11px;
  margin: 0 6px 6px 0; font-size: 12.5px;
}
.chips b { font-weight: 600; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 4px 0 32px; }
"""

JS = """
(function () {
  'use strict';
  const LANG = document.documentElement.lang || 'en';
  const I18N = JSON.parse(document.getElementById('report-i18n').textContent);
  const t = function (key, values) {
    let s = key in I18N ? I18N[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      s = s.split('{' + name + '}').join(values[name]);
    });
    return s;
  };
  const CONFIG = {displaylogo: false, responsive: true,
    modeBarButtonsToRemove: ['lasso2d', 'select2d', 'autoScale2d']};
  if (LANG === 'zh') {
    Plotly.register({moduleType: 'locale', name: 'zh-CN', dictionary: {
      'Download plot as a png': '\\u4e0b\\u8f7d\\u56fe\\u7247 (png)',
      'Zoom': '\\u7f29\\u653e', 'Pan': '\\u5e73\\u79fb', 'Zoom in': '\\u653e\\u5927',
      'Zoom out': '\\u7f29\\u5c0f', 'Reset axes': '\\u91cd\\u7f6e\\u5750\\u6807\\u8f74',
      'Autoscale': '\\u81ea\\u52a8\\u7f29\\u653e',
      'Double-click to zoom back out': '\\u53cc\\u51fb\\u8fd4\\u56de',
      'Show closest data on hover': '\\u60ac\\u505c\\u663e\\u793a\\u6700\\u8fd1\\u6570\\u636e',
      'Compare data on hover': '\\u60ac\\u505c\\u5bf9\\u6bd4\\u6570\\u636e'},
      format: {
        days: ['\\u661f\\u671f\\u65e5', '\\u661f\\u671f\\u4e00', '\\u661f\\u671f\\u4e8c',
          '\\u661f\\u671f\\u4e09', '\\u661f\\u671f\\u56db', '\\u661f\\u671f\\u4e94',
          '\\u661f\\u671f\\u516d'],
        shortDays: ['\\u5468\\u65e5', '\\u5468\\u4e00', '\\u5468\\u4e8c', '\\u5468\\u4e09',
          '\\u5468\\u56db', '\\u5468\\u4e94', '\\u5468\\u516d'],
        months: ['1\\u6708', '2\\u6708', '3\\u6708', '4\\u6708', '5\\u6708', '6\\u6708',
          '7\\u6708', '8\\u6708', '9\\u6708', '10\\u6708', '11\\u6708', '12\\u6708'],
        shortMonths: ['1\\u6708', '2\\u6708', '3\\u6708', '4\\u6708', '5\\u6708', '6\\u6708',
          '7\\u6708', '8\\u6708', '9\\u6708', '10\\u6708', '11\\u6708', '12\\u6708'],
        date: '%Y-%m-%d'}});
    CONFIG.locale = 'zh-CN';
  }
  const ACCENT = '#2563eb', COMPARE = '#d97706', ACTUAL = '#334155', ANOMALY = '#dc2626';

  // Charts are drawn after the page has loaded, a few at a time and those in view first,
  // so the page can be read at once; <html data-rendered="true"> marks the end.
  const tasks = [];
  const later = function (node, draw) { tasks.push({node: node, draw: draw}); };
  const pump = function () {
    const started = performance.now();
    while (tasks.length && performance.now() - started < 40) {
      const height = window.innerHeight;
      let next = tasks.findIndex(function (task) {
        const box = task.node.getBoundingClientRect();
        return box.bottom > -height && box.top < 2 * height;
      });
      if (next < 0) next = 0;
      tasks.splice(next, 1)[0].draw();
    }
    if (tasks.length) window.setTimeout(pump, 0);
    else {
      document.documentElement.dataset.rendered = 'true';
      document.dispatchEvent(new Event('trendcast:rendered'));
    }
  };

  document.querySelectorAll('script[data-plot]').forEach(function (node) {
    const target = document.getElementById(node.dataset.plot);
    later(target, function () {
      const figure = JSON.parse(node.textContent);
      Plotly.newPlot(target, figure.data, figure.layout, CONFIG);
    });
  });

  document.querySelectorAll('script[data-plot-set]').forEach(function (node) {
    const target = document.getElementById(node.dataset.plotSet);
    later(target, function () {
      const set = JSON.parse(node.textContent);
      const control = document.getElementById(set.control);
      const draw = function () {
        const i = control ? Number(control.value) || 0 : 0;
        Plotly.react(target, set.data[i] || [], set.layout, CONFIG);
      };
      if (control) control.addEventListener('change', draw);
      draw();
    });
  });
  window.setTimeout(pump, 0);

  document.querySelectorAll('table.sortable').forEach(function (table) {
    const heads = Array.from(table.tHead.rows[0].cells);
    const key = function (row, col) {
      const cell = row.cells[col];
      if (!('value' in cell.dataset)) return cell.textContent.trim().toLowerCase();
      return cell.dataset.value === '' ? null : Number(cell.dataset.value);
    };
    heads.forEach(function (th, col) {
      th.tabIndex = 0;
      const sort = function () {
        const ascending = th.getAttribute('aria-sort') !== 'ascending';
        heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        const body = table.tBodies[0];
        const rows = Array.from(body.rows).sort(function (a, b) {
          const x = key(a, col), y = key(b, col);
          if (x === null || y === null) return (x === null) - (y === null);
          const order = typeof x === 'number' ? x - y : x.localeCompare(y);
          return ascending ? order : -order;
        });
        body.append.apply(body, rows);
      };
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
    });
  });

  const links = Array.from(document.querySelectorAll('.topbar a[data-nav]'));
  const groups = Array.from(document.querySelectorAll('[data-group]'));
  let pending = false;
  const spy = function () {
    pending = false;
    let current = groups.length ? groups[0].dataset.group : null;
    groups.forEach(function (node) {
      if (node.getBoundingClientRect().top <= 90) current = node.dataset.group;
    });
    links.forEach(function (a) {
      if (a.dataset.nav === current) a.setAttribute('aria-current', 'true');
      else a.removeAttribute('aria-current');
    });
  };
  window.addEventListener('scroll', function () {
    if (!pending) { pending = true; window.requestAnimationFrame(spy); }
  }, {passive: true});
  spy();

  const data = document.getElementById('explorer-data');
  if (!data) return;
  const D = JSON.parse(data.textContent);
  const search = document.getElementById('product-search');
  const select = document.getElementById('product-select');
  const compare = document.getElementById('compare-select');
  const count = document.getElementById('product-count');
  const facts = document.getElementById('product-facts');
  const scores = document.getElementById('product-metrics');
  const chart = document.getElementById('explorer-chart');

  const plotText = function (s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  };
  const times = function (runs) {
    const days = [];
    for (let i = 0; i < runs.length; i += 2) {
      for (let k = 0; k < runs[i + 1]; k++) days.push(D.dates[runs[i] + k]);
    }
    return days;
  };
  const number = function (v) {
    if (v === null || v === undefined || !isFinite(v)) return '\\u2013';
    const a = Math.abs(v);
    const digits = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3;
    return v.toLocaleString('en-US',
      {minimumFractionDigits: digits, maximumFractionDigits: digits});
  };
  const units = function (v) { return Math.round(v).toLocaleString('en-US'); };
  const sum = function (values) {
    return values.reduce(function (a, v) { return a + (v === null ? 0 : v); }, 0);
  };

  function backtestTrace(p, m, color) {
    const x = [], y = [];
    p.backtest.forEach(function (w) {
      if (!w.y[m]) return;
      const days = times(w.t);
      x.push.apply(x, days.concat([days[days.length - 1]]));
      y.push.apply(y, w.y[m].concat([null]));
    });
    return {x: x, y: y, name: t('explorer.backtest') + ' \\u00b7 ' + plotText(D.models[m]),
      mode: 'lines', line: {color: color, width: 1.6}, hovertemplate: '%{y:,.2f}'};
  }

  function plot(p, primary, second) {
    const traces = [];
    const shapes = p.backtest.map(function (w) {
      const day = D.dates[w.cutoff];
      return {type: 'line', xref: 'x', yref: 'paper', x0: day, x1: day, y0: 0, y1: 1,
        line: {color: '#b6bec9', width: 1, dash: 'dot'}};
    });
    const f = p.future;
    if (f) {
      const x = times(f.t);
      shapes.push({type: 'rect', xref: 'x', yref: 'paper', x0: x[0], x1: x[x.length - 1],
        y0: 0, y1: 1, fillcolor: '#f3f6fb', line: {width: 0}, layer: 'below'});
      const levels = D.levels.slice().sort(function (a, b) { return b - a; });
      levels.forEach(function (level, i) {
        const alpha = 0.12 + 0.14 * i / Math.max(levels.length - 1, 1);
        traces.push({x: x, y: f.lo[level], mode: 'lines', line: {width: 0, color: ACCENT},
          hoverinfo: 'skip', showlegend: false, legendgroup: 'pi' + level});
        traces.push({x: x, y: f.hi[level], mode: 'lines', line: {width: 0, color: ACCENT},
          fill: 'tonexty', fillcolor: 'rgba(37, 99, 235, ' + alpha.toFixed(2) + ')',
          name: t('explorer.interval', {level: level}), legendgroup: 'pi' + level,
          customdata: f.lo[level],
          hovertemplate: level + '%: %{customdata:,.2f} \\u2013 %{y:,.2f}'});
      });
    }
    traces.push({x: times(p.history.t), y: p.history.y, name: t('explorer.actual'),
      mode: 'lines', line: {color: ACTUAL, width: 1.4}, hovertemplate: '%{y:,.2f}'});
    if (p.anomalies) {
      traces.push({x: p.anomalies.t.map(function (i) { return D.dates[i]; }),
        y: p.anomalies.y, text: p.anomalies.cause.map(plotText), name: t('explorer.anomaly'),
        mode: 'markers', marker: {color: ANOMALY, size: 9, symbol: 'circle-open',
          line: {width: 2, color: ANOMALY}},
        hovertemplate: '%{y:,.2f} %{text}'});
    }
    if (primary !== null) traces.push(backtestTrace(p, primary, ACCENT));
    if (second !== null) traces.push(backtestTrace(p, second, COMPARE));
    if (f) {
      const name = primary === null ? t('explorer.forecast')
        : t('explorer.forecast') + ' \\u00b7 ' + plotText(D.models[primary]);
      traces.push({x: times(f.t), y: f.y, name: name, mode: 'lines',
        line: {color: ACCENT, width: 2.4}, hovertemplate: '%{y:,.2f}'});
    }
    Plotly.react(chart, traces, Object.assign({}, D.layout, {shapes: shapes}), CONFIG);
  }

  function describe(p, primary) {
    const items = [[t('explorer.volume'), units(p.volume) + ' ' + t('explorer.units')]];
    if (p.segment !== null) items.push([t('explorer.segment'), p.segment]);
    if (primary !== null) items.push([t('explorer.model'), D.models[primary]]);
    if (p.trend) {
      let trend = t('trend.' + p.trend[0]);
      if (p.trend[1] !== null) trend += ' (' + (p.trend[1] >= 0 ? '+' : '') +
        Math.round(p.trend[1]) + '%)';
      items.push([t('explorer.trend'), trend]);
    }
    if (p.future) {
      const steps = p.future.y.length;
      const ahead = sum(p.future.y), before = sum(p.history.y.slice(-steps));
      let text = units(ahead) + ' ' + t('explorer.units');
      if (before > 0) {
        const change = Math.round(100 * (ahead / before - 1));
        text += ' (' + (change >= 0 ? '+' : '') + change + '% ' +
          t('explorer.vs_last', {steps: steps}) + ')';
      }
      items.push([t('explorer.next', {steps: steps}), text]);
    }
    facts.replaceChildren.apply(facts, items.map(function (item) {
      const chip = document.createElement('span');
      const label = document.createElement('b');
      label.textContent = item[0] + ': ';
      chip.append(label, item[1]);
      return chip;
    }));
  }

  function tabulate(p, primary, second) {
    const head = document.createElement('tr');
    [t('explorer.model')].concat(D.metric_labels).forEach(function (label, i) {
      const th = document.createElement('th');
      th.textContent = label;
      if (i) th.className = 'num';
      head.append(th);
    });
    const rows = p.metrics.slice().sort(function (a, b) {
      const x = a[1], y = b[1];
      if (x === null || y === null) return (x === null) - (y === null);
      return x - y;
    }).map(function (row) {
      const tr = document.createElement('tr');
      if (row[0] === primary) tr.className = 'best';
      if (row[0] === second) tr.className = 'compare';
      row.forEach(function (value, i) {
        const td = document.createElement('td');
        td.textContent = i ? number(value) : D.models[value];
        if (i) td.className = 'num';
        tr.append(td);
      });
      return tr;
    });
    const thead = document.createElement('thead'), tbody = document.createElement('tbody');
    thead.append(head);
    tbody.append.apply(tbody, rows);
    scores.replaceChildren(thead, tbody);
  }

  function render() {
    const p = D.products[Number(select.value)];
    const second = compare.value === '' ? null : Number(compare.value);
    plot(p, p.model, second);
    tabulate(p, p.model, second);
  }

  function choose() {
    const p = D.products[Number(select.value)];
    const previous = compare.value;
    const others = D.models.map(function (m, i) { return i; }).filter(function (i) {
      return i !== p.model && p.backtest.some(function (w) { return w.y[i]; });
    });
    compare.replaceChildren.apply(compare, [new Option(t('explorer.none_option'), '')].concat(
      others.map(function (i) { return new Option(D.models[i], String(i)); })));
    if (others.indexOf(Number(previous)) >= 0 && previous !== '') compare.value = previous;
    describe(p, p.model);
    render();
  }

  function filter() {
    const query = search.value.trim().toLowerCase();
    const current = select.value;
    const matches = [];
    D.products.forEach(function (p, i) {
      if (!query || p.id.toLowerCase().indexOf(query) >= 0) matches.push(i);
    });
    select.replaceChildren.apply(select, matches.map(function (i) {
      const p = D.products[i];
      return new Option(p.id + ' \\u2014 ' + units(p.volume) + ' ' + t('explorer.units'),
        String(i));
    }));
    count.textContent = t('explorer.count', {shown: matches.length, total: D.products.length});
    if (current !== '' && matches.indexOf(Number(current)) >= 0) select.value = current;
    else if (matches.length) choose();
  }

  function show(id) {
    const index = D.products.findIndex(function (p) { return p.id === id; });
    if (index < 0) return false;
    if (search.value) { search.value = ''; filter(); }
    select.value = String(index);
    choose();
    return true;
  }

  document.addEventListener('click', function (e) {
    const link = e.target.closest ? e.target.closest('a.product-link') : null;
    if (!link || !show(link.dataset.product)) return;
    e.preventDefault();
    document.getElementById('explorer').scrollIntoView();
  });
  search.addEventListener('input', filter);
  select.addEventListener('change', choose);
  compare.addEventListener('change', render);
  later(chart, filter);
})();
"""
