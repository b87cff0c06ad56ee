/*
 * The trendcast dashboard: one page over the REST API, no framework, no build step.
 *
 * Every text that comes from the API reaches the page through textContent (the el()
 * helper below), never through innerHTML, so a product named "<img onerror=...>" is
 * shown, not run. The API key lives in sessionStorage and goes out as a Bearer header.
 */
(function () {
  'use strict';

  var KEY_STORE = 'trendcast.key';
  var ROLE_RANK = { viewer: 0, analyst: 1, admin: 2 };
  var RESULT_TABS = ['overview', 'products', 'trends', 'alerts', 'plan', 'leaderboard'];
  var COLORS = {
    actual: '#1f2933', forecast: '#2563eb', band80: 'rgba(37,99,235,0.28)',
    band95: 'rgba(37,99,235,0.13)', rising: '#15803d', falling: '#b91c1c', other: '#64748b'
  };
  var PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ['lasso2d', 'select2d'] };

  var state = {
    key: null,
    role: null,
    runs: [],
    runId: null,
    tab: 'overview',
    loaded: {},        // tab -> run id it shows
    data: {},          // cached API answers of the current run
    product: null,
    trendFilter: 'moving',
    poll: null,
    watching: null,
    searchTimer: null
  };

  // -- small helpers ---------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  /* An element with attributes and children; strings become text nodes, never markup. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = value;
      else if (name.slice(0, 2) === 'on') node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === 'string' || typeof child === 'number'
        ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function show(node, visible) { node.hidden = !visible; }

  function setMessage(node, text) {
    node.textContent = text || '';
    node.hidden = !text;
  }

  var numberFormats = {};
  function fmtNumber(value, digits) {
    if (value === null || value === undefined || value === '') return '–';
    var n = Number(value);
    if (!isFinite(n)) return String(value);
    var d = digits === undefined ? (Math.abs(n) >= 100 || Number.isInteger(n) ? 0 : 2) : digits;
    if (Math.abs(n) < 0.5 * Math.pow(10, -d)) n = 0;  // no "-0.00"
    if (!numberFormats[d]) {
      numberFormats[d] = new Intl.NumberFormat(undefined, {
        minimumFractionDigits: d, maximumFractionDigits: d
      });
    }
    return numberFormats[d].format(n);
  }

  function fmtPercent(value, digits) {
    if (value === null || value === undefined) return '–';
    var text = fmtNumber(value, digits === undefined ? 1 : digits) + '%';
    return Number(value) > 0 ? '+' + text : text;
  }

  function fmtDate(value) {
    return value ? String(value).slice(0, 10) : '–';
  }

  function fmtTimestamp(value) {
    if (!value) return '–';
    return String(value).replace('T', ' ').slice(0, 16);
  }

  function label(name) {
    var text = String(name).replace(/_/g, ' ');
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  // -- the API ---------------------------------------------------------------------------

  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }

  function request(path, options) {
    options = options || {};
    var headers = Object.assign({ Authorization: 'Bearer ' + state.key }, options.headers || {});
    return fetch(path, Object.assign({}, options, { headers: headers })).then(function (res) {
      if (res.ok) return res;
      return res.text().then(function (text) {
        var message = 'The server answered ' + res.status + '.';
        try {
          var body = JSON.parse(text);
          if (body && body.error) message = body.error;
        } catch (ignored) { /* not JSON: keep the status line */ }
        throw new ApiError(res.status, message);
      });
    }, function () {
      throw new ApiError(0, 'The server cannot be reached; is `trendcast serve` running?');
    });
  }

  function api(path, options) {
    return request(path, options).then(function (res) { return res.json(); });
  }

  function runPath(name, query) {
    var path = '/api/runs/' + encodeURIComponent(state.runId) + '/' + name;
    return query ? path + '?' + new URLSearchParams(query).toString() : path;
  }

  /* Reports an error where the user looks; a refused key ends the session. */
  function failure(target) {
    return function (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 401) {
        logout('Your API key was refused (' + error.message + ') Sign in again.');
        return;
      }
      setMessage(target || $('notice'), error.message);
    };
  }

  // -- session ---------------------------------------------------------------------------

  function login(key) {
    state.key = key;
    setMessage($('login-error'), '');
    $('login-submit').disabled = true;
    return api('/api/me').then(function (me) {
      sessionStorage.setItem(KEY_STORE, key);
      state.role = me.role;
      startSession();
    }, function (error) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORE);
      var text = error instanceof ApiError ? error.message : String(error);
      if (error.status === 401) text = 'That API key is not valid: ' + text;
      else if (error.status === 403) text = 'That API key may not use the dashboard: ' + text;
      showLogin(text);
    }).then(function () {
      $('login-submit').disabled = false;
    });
  }

  function logout(message) {
    stopPolling();
    sessionStorage.removeItem(KEY_STORE);
    state.key = null;
    state.role = null;
    state.runs = [];
    state.runId = null;
    state.loaded = {};
    state.data = {};
    state.product = null;
    Array.prototype.forEach.call(document.querySelectorAll('[data-tab]'), function (button) {
      button.removeAttribute('aria-selected');
      button.classList.remove('active');
    });
    showLogin(message || '');
  }

  function showLogin(message) {
    show($('app'), false);
    show($('session'), false);
    show($('login'), true);
    setMessage($('login-error'), message);
    $('login-key').value = '';
    $('login-key').focus();
  }

  function canWrite() { return (ROLE_RANK[state.role] || 0) >= ROLE_RANK.analyst; }

  function startSession() {
    show($('login'), false);
    show($('app'), true);
    show($('session'), true);
    $('role').textContent = state.role;
    $('role').className = 'role role-' + state.role;
    var writer = canWrite();
    Array.prototype.forEach.call(document.querySelectorAll('.needs-analyst'), function (set) {
      set.disabled = !writer;
    });
    $('run-cancel').disabled = !writer;
    Array.prototype.forEach.call(document.querySelectorAll('.role-note'), function (note) {
      note.textContent = 'Your key has the ' + state.role + ' role: you can read results, but ' +
        'uploading data and starting runs need an analyst or admin key.';
      show(note, !writer);
    });
    var wanted = location.hash.slice(1);
    state.tab = document.querySelector('[data-tab="' + wanted + '"]') ? wanted : 'overview';
    refreshRuns(null).then(function () {
      if (!state.runId && writer && !wanted) state.tab = 'upload';
      selectTab(state.tab);
      resumeWatching();
    });
  }

  // -- runs and the run picker -------------------------------------------------------------

  function refreshRuns(preferred) {
    return api('/api/runs?state=succeeded&limit=200').then(function (runs) {
      state.runs = runs.filter(function (run) { return run.kind === 'run'; });
      state.runs.sort(function (a, b) {
        return String(b.finished_at).localeCompare(String(a.finished_at));
      });
      var ids = state.runs.map(function (run) { return run.run_id; });
      var next = preferred && ids.indexOf(preferred) >= 0 ? preferred
        : ids.indexOf(state.runId) >= 0 ? state.runId : ids[0] || null;
      var picker = clear($('run-picker'));
      if (!state.runs.length) picker.appendChild(el('option', { value: '', text: 'no run yet' }));
      state.runs.forEach(function (run) {
        var p = run.params || {};
        picker.appendChild(el('option', {
          value: run.run_id,
          text: fmtTimestamp(run.finished_at) + ' · ' + p.model + ' · h ' + p.horizon
        }));
      });
      picker.disabled = !state.runs.length;
      setRun(next);
    }, failure());
  }

  function setRun(runId) {
    if (runId !== state.runId) {
      state.runId = runId;
      state.loaded = {};
      state.data = {};
      state.product = null;
    }
    $('run-picker').value = runId || '';
  }

  function currentRun() {
    for (var i = 0; i < state.runs.length; i += 1) {
      if (state.runs[i].run_id === state.runId) return state.runs[i];
    }
    return null;
  }

  // -- tabs ------------------------------------------------------------------------------

  function selectTab(tab) {
    state.tab = tab;
    setMessage($('notice'), '');
    Array.prototype.forEach.call(document.querySelectorAll('[data-tab]'), function (button) {
      var active = button.getAttribute('data-tab') === tab;
      button.setAttribute('aria-selected', active ? 'true' : 'false');
      button.classList.toggle('active', active);
    });
    Array.prototype.forEach.call(document.querySelectorAll('section.tab'), function (section) {
      show(section, section.id === 'tab-' + tab);
    });
    if (location.hash !== '#' + tab) history.replaceState(null, '', '#' + tab);
    var needsRun = RESULT_TABS.indexOf(tab) >= 0;
    show($('no-run'), needsRun && !state.runId);
    Array.prototype.forEach.call(document.querySelectorAll('.needs-run'), function (part) {
      show(part, !!state.runId);
    });
    if (needsRun && !state.runId) return;
    if (needsRun && state.loaded[tab] === state.runId) {
      resizeCharts($('tab-' + tab));
      return;
    }
    state.loaded[tab] = state.runId;
    var loaders = {
      overview: loadOverview, products: loadProducts, trends: loadTrends, alerts: loadAlerts,
      plan: loadPlan, leaderboard: loadLeaderboard, upload: loadDatasets, runs: loadLauncher
    };
    loaders[tab]();
  }

  function resizeCharts(root) {
    Array.prototype.forEach.call(root.querySelectorAll('.js-plotly-plot'), function (chart) {
      window.Plotly.Plots.resize(chart);
    });
  }

  function plot(node, traces, layout) {
    var base = {
      margin: { l: 56, r: 16, t: 12, b: 40 },
      font: { family: 'system-ui, -apple-system, "Segoe UI", sans-serif', size: 12, color: '#334155' },
      paper_bgcolor: 'rgba(0,0,0,0)', plot_bgcolor: 'rgba(0,0,0,0)',
      legend: { orientation: 'h', y: 1.08, x: 0, traceorder: 'normal' },
      hovermode: 'x unified',
      xaxis: { gridcolor: '#e2e8f0' }, yaxis: { gridcolor: '#e2e8f0', rangemode: 'tozero' }
    };
    return window.Plotly.react(node, traces, Object.assign(base, layout || {}), PLOT_CONFIG);
  }

  // -- tables ----------------------------------------------------------------------------

  /*
   * A sortable table. columns: [{key, label, format(value,row) -> string|Node, numeric}].
   * Clicking a header sorts by it; a second click reverses.
   */
  function table(container, columns, rows, options) {
    options = options || {};
    var sort = { key: options.sortKey || null, desc: options.sortDesc !== false };
    var wrap = clear(container);
    if (!rows.length) {
      wrap.appendChild(el('p', { class: 'muted', text: options.empty || 'Nothing to show.' }));
      return;
    }
    var tableNode = el('table', { class: 'data' });
    var head = el('tr');
    var body = el('tbody');
    columns.forEach(function (column) {
      var button = el('button', {
        type: 'button', text: column.label || label(column.key),
        onclick: function () {
          sort.desc = sort.key === column.key ? !sort.desc : !!column.numeric;
          sort.key = column.key;
          render();
        }
      });
      head.appendChild(el('th', { class: column.numeric ? 'num' : '', 'data-key': column.key },
        [button]));
    });
    tableNode.appendChild(el('thead', {}, [head]));
    tableNode.appendChild(body);
    wrap.appendChild(tableNode);

    function compare(a, b) {
      var x = a[sort.key];
      var y = b[sort.key];
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      var order = typeof x === 'number' && typeof y === 'number' ? x - y
        : String(x).localeCompare(String(y), undefined, { numeric: true });
      return sort.desc ? -order : order;
    }

    function render() {
      var shown = sort.key ? rows.slice().sort(compare) : rows;
      Array.prototype.forEach.call(head.children, function (th) {
        var key = th.getAttribute('data-key');
        th.setAttribute('aria-sort', key === sort.key ? (sort.desc ? 'descending' : 'ascending')
          : 'none');
      });
      clear(body);
      shown.forEach(function (row) {
        var tr = el('tr', { class: options.rowClass ? options.rowClass(row) : '' });
        columns.forEach(function (column) {
          var value = row[column.key];
          var shownValue = column.format ? column.format(value, row)
            : column.numeric ? fmtNumber(value) : value === null || value === undefined ? '–'
            : String(value);
          var cls = (column.numeric ? 'num ' : '') + (column.cls || '');
          tr.appendChild(el('td', { class: cls.trim() }, [shownValue]));
        });
        body.appendChild(tr);
      });
    }
    render();
  }

  function productLink(value) {
    return el('button', {
      type: 'button', class: 'link', text: String(value),
      onclick: function () { openProduct(String(value)); }
    });
  }

  function trendBadge(value) {
    return el('span', { class: 'badge trend-' + (value || 'none'), text: value || '–' });
  }

  function severityBadge(value) {
    return el('span', { class: 'badge severity-' + (value || 'none'), text: value || '–' });
  }

  /* Columns for a table of unknown shape: known ones formatted, the rest shown plainly. */
  var KNOWN_COLUMNS = {
    unique_id: { label: 'Product', format: productLink },
    sku: { label: 'SKU' },
    ds: { label: 'Date', format: fmtDate, cls: 'nowrap' },
    trend: { format: trendBadge },
    severity: { format: severityBadge },
    growth_pct: { label: 'Growth', numeric: true, format: function (v) { return fmtPercent(v); } },
    stockout_risk: {
      label: 'Stock-out risk', numeric: true,
      format: function (v) { return v === null ? '–' : fmtNumber(100 * v, 1) + '%'; }
    },
    p_value: { label: 'p-value', numeric: true, format: function (v) { return fmtNumber(v, 4); } },
    coverage_80: { label: '80% coverage', numeric: true, format: function (v) { return fmtNumber(v, 1) + '%'; } },
    coverage_95: { label: '95% coverage', numeric: true, format: function (v) { return fmtNumber(v, 1) + '%'; } },
    mape: { label: 'MAPE', numeric: true, format: function (v) { return fmtNumber(v, 1) + '%'; } },
    smape: { label: 'sMAPE', numeric: true, format: function (v) { return fmtNumber(v, 1) + '%'; } },
    time_s: { label: 'Time (s)', numeric: true, format: function (v) { return fmtNumber(v, 1); } },
    mase: { label: 'MASE', numeric: true, format: function (v) { return fmtNumber(v, 3); } },
    rmsse: { label: 'RMSSE', numeric: true, format: function (v) { return fmtNumber(v, 3); } },
    wrmsse: { label: 'WRMSSE', numeric: true, format: function (v) { return fmtNumber(v, 3); } },
    mae: { label: 'MAE', numeric: true },
    rmse: { label: 'RMSE', numeric: true },
    r2: { label: 'R²', numeric: true, format: function (v) { return fmtNumber(v, 3); } }
  };

  function columnsOf(rows, order, skip) {
    var keys = [];
    (order || []).forEach(function (key) {
      if (rows.length && key in rows[0]) keys.push(key);
    });
    if (rows.length) {
      Object.keys(rows[0]).forEach(function (key) {
        if (keys.indexOf(key) < 0 && (skip || []).indexOf(key) < 0) keys.push(key);
      });
    }
    return keys.map(function (key) {
      var known = KNOWN_COLUMNS[key] || {};
      var numeric = known.numeric !== undefined ? known.numeric
        : rows.some(function (row) { return typeof row[key] === 'number'; });
      return { key: key, label: known.label, format: known.format, numeric: numeric, cls: known.cls };
    });
  }

  function exportCsv(name, button) {
    if (!state.runId) return;
    button.disabled = true;
    request(runPath(name, { format: 'csv' })).then(function (res) {
      return res.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var link = el('a', { href: url, download: name + '-' + state.runId + '.csv' });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    }).catch(failure()).then(function () { button.disabled = false; });
  }

  // -- overview --------------------------------------------------------------------------

  function kpi(title, value, detail) {
    return el('div', { class: 'kpi' }, [
      el('div', { class: 'kpi-title', text: title }),
      el('div', { class: 'kpi-value', text: value }),
      detail ? el('div', { class: 'kpi-detail', text: detail }) : null
    ]);
  }

  function countsText(counts) {
    var keys = Object.keys(counts || {});
    if (!keys.length) return 'none';
    return keys.map(function (k) { return fmtNumber(counts[k]) + ' ' + label(k).toLowerCase(); })
      .join(' · ');
  }

  function loadOverview() {
    var runId = state.runId;
    api(runPath('overview')).then(function (data) {
      if (runId !== state.runId) return;
      var k = data.kpis || {};
      var trends = k.trends || {};
      var boxes = clear($('kpis'));
      boxes.appendChild(kpi('Products', fmtNumber(k.products),
        'history ' + fmtDate(k.history_start) + ' to ' + fmtDate(k.history_end)));
      boxes.appendChild(kpi('Forecast total', fmtNumber(k.forecast_total),
        'next ' + fmtNumber(k.horizon) + ' periods'));
      boxes.appendChild(kpi('Best model', k.best_model || '–',
        k.best_mase !== undefined ? 'MASE ' + fmtNumber(k.best_mase, 3) : ''));
      boxes.appendChild(kpi('Rising / falling',
        fmtNumber(trends.rising || 0) + ' / ' + fmtNumber(trends.falling || 0), countsText(trends)));
      boxes.appendChild(kpi('Alerts', fmtNumber(k.alerts || 0), countsText(k.alerts_by_kind)));

      var series = data.series || {};
      var actual = series.actual || [];
      var forecast = series.forecast || [];
      plot($('overview-chart'), [
        {
          name: 'Actual', type: 'scatter', mode: 'lines', line: { color: COLORS.actual, width: 1.5 },
          x: actual.map(function (r) { return fmtDate(r.ds); }),
          y: actual.map(function (r) { return r.y; })
        },
        {
          name: 'Forecast', type: 'scatter', mode: 'lines',
          line: { color: COLORS.forecast, width: 2.5 },
          x: forecast.map(function (r) { return fmtDate(r.ds); }),
          y: forecast.map(function (r) { return r.forecast; })
        }
      ]);

      var health = data.data_health || [];
      var touched = health.filter(function (r) { return Number(r.rows) > 0; });
      $('health-summary').textContent = touched.length
        ? touched.length + ' of ' + health.length + ' cleaning rules changed or removed rows.'
        : 'All ' + health.length + ' cleaning rules passed: no rows were removed or changed.';
      table($('health-table'), [
        { key: 'rule' }, { key: 'action' }, { key: 'rows', numeric: true },
        { key: 'units', numeric: true }, { key: 'reason' }, { key: 'examples' }
      ], health, {
        empty: 'This run has no cleaning report.',
        rowClass: function (row) { return Number(row.rows) > 0 ? 'flag' : 'quiet'; }
      });
    }).catch(failure());
  }

  // -- product explorer ------------------------------------------------------------------

  function loadProducts() {
    searchProducts($('product-search').value.trim(), true);
  }

  function searchProducts(search, pickFirst) {
    var runId = state.runId;
    var query = { limit: '200' };
    if (search) query.search = search;
    return api(runPath('products', query)).then(function (data) {
      if (runId !== state.runId) return;
      var list = clear($('product-list'));
      var rows = data.rows || [];
      $('product-count').textContent = rows.length < data.total
        ? 'Showing ' + fmtNumber(rows.length) + ' of ' + fmtNumber(data.total) + ' products'
        : fmtNumber(data.total) + ' product' + (data.total === 1 ? '' : 's');
      rows.forEach(function (row) {
        var id = String(row.unique_id);
        list.appendChild(el('li', {}, [el('button', {
          type: 'button', class: 'product-item' + (id === state.product ? ' active' : ''),
          'data-product': id,
          onclick: function () { showProduct(id); }
        }, [
          el('span', { class: 'product-name', text: id }),
          trendBadge(row.trend),
          el('span', { class: 'muted small', text: 'forecast ' + fmtNumber(row.forecast_total) })
        ])]));
      });
      if (!rows.length) list.appendChild(el('li', { class: 'muted', text: 'No product matches.' }));
      var target = state.product || (rows.length ? String(rows[0].unique_id) : null);
      if (pickFirst && target) showProduct(target);
    }).catch(failure());
  }

  function openProduct(product) {
    var loaded = state.loaded.products === state.runId;
    state.product = product;
    if (state.tab !== 'products') selectTab('products');
    if (loaded) showProduct(product);
  }

  function showProduct(product) {
    var runId = state.runId;
    state.product = product;
    Array.prototype.forEach.call(document.querySelectorAll('.product-item'), function (item) {
      item.classList.toggle('active', item.getAttribute('data-product') === product);
    });
    $('product-title').textContent = product;
    api(runPath('products/' + encodeURIComponent(product))).then(function (data) {
      if (runId !== state.runId || product !== state.product) return;
      drawProduct(data);
    }).catch(failure());
  }

  function drawProduct(data) {
    var history = data.history || [];
    var fc = data.forecast || [];
    var trend = (data.trends || [])[0] || {};
    var total = fc.reduce(function (sum, r) { return sum + (Number(r.forecast) || 0); }, 0);
    var facts = clear($('product-facts'));
    [
      ['Model', data.model || '–'],
      ['Trend', trendBadge(trend.trend)],
      ['Growth', fmtPercent(trend.growth_pct)],
      ['Forecast total', fmtNumber(total) + ' over ' + fc.length + ' periods'],
      ['Alerts', fmtNumber((data.alerts || []).length)]
    ].forEach(function (pair) {
      facts.appendChild(el('div', {}, [el('dt', { text: pair[0] }), el('dd', {}, [pair[1]])]));
    });

    var x = fc.map(function (r) { return fmtDate(r.ds); });
    function band(level, color) {
      var lo = 'forecast-lo-' + level;
      var hi = 'forecast-hi-' + level;
      if (!fc.length || !(lo in fc[0])) return [];
      return [
        {
          name: level + '% low', x: x, y: fc.map(function (r) { return r[lo]; }),
          type: 'scatter', mode: 'lines', line: { width: 0 }, showlegend: false,
          hoverinfo: 'skip'
        },
        {
          name: level + '% interval', x: x, y: fc.map(function (r) { return r[hi]; }),
          type: 'scatter', mode: 'lines', line: { width: 0 }, fill: 'tonexty',
          fillcolor: color, hoverinfo: 'skip'
        }
      ];
    }
    var traces = band(95, COLORS.band95).concat(band(80, COLORS.band80), [
      {
        name: 'Actual', type: 'scatter', mode: 'lines', line: { color: COLORS.actual, width: 1.5 },
        x: history.map(function (r) { return fmtDate(r.ds); }),
        y: history.map(function (r) { return r.y; })
      },
      {
        name: 'Forecast', type: 'scatter', mode: 'lines+markers',
        line: { color: COLORS.forecast, width: 2.5 }, marker: { size: 4 },
        x: x, y: fc.map(function (r) { return r.forecast; })
      }
    ]);
    plot($('product-chart'), traces);
    $('product-chart').setAttribute('data-product', data.product);

    table($('product-drivers'), [
      { key: 'rank', numeric: true }, { key: 'driver' },
      { key: 'effect', numeric: true, format: function (v) { return fmtNumber(v, 2); } },
      { key: 'direction' }
    ], data.drivers || [], { empty: 'No drivers were estimated for this product.' });

    table($('product-alerts'), columnsOf(data.alerts || [], ['ds', 'alert', 'severity', 'reason']),
      data.alerts || [], { empty: 'No alerts for this product.' });

    var plan = clear($('product-plan'));
    var row = (data.plan || [])[0];
    if (!row) {
      plan.appendChild(el('p', { class: 'muted', text: 'No plan: the run had no lead time.' }));
    } else {
      columnsOf([row], ['order_qty', 'reorder_point', 'safety_stock', 'expected_demand'],
        ['sku']).forEach(function (column) {
        var value = column.format ? column.format(row[column.key], row)
          : column.numeric ? fmtNumber(row[column.key]) : String(row[column.key]);
        plan.appendChild(el('div', {}, [
          el('dt', { text: column.label || label(column.key) }), el('dd', {}, [value])
        ]));
      });
    }
  }

  // -- trends, alerts, plan, leaderboard ---------------------------------------------------

  function loadTrends() {
    var runId = state.runId;
    api(runPath('trends')).then(function (data) {
      if (runId !== state.runId) return;
      state.data.trends = data.rows || [];
      drawTrends();
    }).catch(failure());
  }

  function drawTrends() {
    var rows = state.data.trends || [];
    var counts = {};
    rows.forEach(function (r) { counts[r.trend] = (counts[r.trend] || 0) + 1; });
    var filters = [['moving', 'Rising & falling', (counts.rising || 0) + (counts.falling || 0)],
      ['rising', 'Rising', counts.rising || 0], ['falling', 'Falling', counts.falling || 0]];
    Object.keys(counts).sort().forEach(function (name) {
      if (name !== 'rising' && name !== 'falling') filters.push([name, label(name), counts[name]]);
    });
    filters.push(['all', 'All', rows.length]);
    var chips = clear($('trend-filter'));
    filters.forEach(function (f) {
      chips.appendChild(el('button', {
        type: 'button', class: 'chip' + (state.trendFilter === f[0] ? ' active' : ''),
        'data-filter': f[0], 'aria-pressed': state.trendFilter === f[0] ? 'true' : 'false',
        onclick: function () { state.trendFilter = f[0]; drawTrends(); }
      }, [f[1] + ' ', el('span', { class: 'count', text: fmtNumber(f[2]) })]));
    });
    var filter = state.trendFilter;
    var shown = rows.filter(function (r) {
      if (filter === 'all') return true;
      if (filter === 'moving') return r.trend === 'rising' || r.trend === 'falling';
      return r.trend === filter;
    });
    var top = shown.slice().sort(function (a, b) {
      return Math.abs(b.growth_pct || 0) - Math.abs(a.growth_pct || 0);
    }).slice(0, 30).sort(function (a, b) { return (a.growth_pct || 0) - (b.growth_pct || 0); });
    $('trends-chart').style.height = Math.max(160, 70 + 26 * top.length) + 'px';
    plot($('trends-chart'), [{
      type: 'bar', orientation: 'h', name: 'Growth',
      y: top.map(function (r) { return String(r.unique_id); }),
      x: top.map(function (r) { return r.growth_pct; }),
      marker: {
        color: top.map(function (r) {
          return r.trend === 'rising' ? COLORS.rising : r.trend === 'falling' ? COLORS.falling
            : COLORS.other;
        })
      },
      hovertemplate: '%{y}: %{x:.1f}%<extra></extra>'
    }], {
      margin: { l: 120, r: 16, t: 8, b: 36 }, hovermode: 'closest', showlegend: false,
      xaxis: { title: { text: 'growth over the trend window (%)' }, zeroline: true, gridcolor: '#e2e8f0' },
      yaxis: { automargin: true, type: 'category' }
    });
    table($('trends-table'), columnsOf(shown,
      ['unique_id', 'trend', 'growth_pct', 'slope', 'p_value', 'periods'],
      ['mann_kendall_s']), shown, {
      sortKey: 'growth_pct', empty: 'No product in this group.'
    });
  }

  function loadAlerts() {
    var runId = state.runId;
    api(runPath('alerts')).then(function (data) {
      if (runId !== state.runId) return;
      var rows = data.rows || [];
      table($('alerts-table'),
        columnsOf(rows, ['unique_id', 'ds', 'alert', 'severity', 'reason', 'value', 'threshold']),
        rows, { empty: 'No alerts in this run.' });
    }).catch(failure());
  }

  function loadPlan() {
    var run = currentRun();
    var button = document.querySelector('[data-export="plan"]');
    if (run && (run.params || {}).lead_time === null) {
      button.disabled = true;
      $('plan-summary').textContent = '';
      table($('plan-table'), [], [], {
        empty: 'This run has no replenishment plan: start a run with a lead time to get one.'
      });
      return;
    }
    button.disabled = false;
    var runId = state.runId;
    api(runPath('plan')).then(function (data) {
      if (runId !== state.runId) return;
      var rows = data.rows || [];
      var toOrder = rows.filter(function (r) { return Number(r.order_qty) > 0; });
      var units = toOrder.reduce(function (sum, r) { return sum + Number(r.order_qty); }, 0);
      var p = (run && run.params) || {};
      $('plan-summary').textContent = fmtNumber(toOrder.length) + ' of ' + fmtNumber(rows.length) +
        ' products to order, ' + fmtNumber(units) + ' units in all (lead time ' +
        fmtNumber(p.lead_time) + ', review period ' + fmtNumber(p.review_period) +
        ', service level ' + fmtNumber(100 * (p.service_level || 0), 0) + '%).';
      var skip = rows.length && rows.every(function (r) { return r.sku === r.unique_id; })
        ? ['sku'] : [];
      table($('plan-table'), columnsOf(rows,
        ['unique_id', 'order_qty', 'reorder_point', 'safety_stock', 'expected_demand',
          'order_up_to', 'stockout_risk', 'days_of_cover'], skip), rows, {
        sortKey: 'order_qty', empty: 'The plan is empty.'
      });
    }).catch(failure());
  }

  function loadLeaderboard() {
    var runId = state.runId;
    var used = (currentRun() || {}).params || {};
    api(runPath('leaderboard')).then(function (data) {
      if (runId !== state.runId) return;
      var rows = data.rows || [];
      var ordered = rows.slice().sort(function (a, b) { return (b.mase || 0) - (a.mase || 0); });
      $('leaderboard-chart').style.height = Math.max(160, 70 + 24 * ordered.length) + 'px';
      plot($('leaderboard-chart'), [{
        type: 'bar', orientation: 'h', name: 'MASE',
        y: ordered.map(function (r) { return String(r.model); }),
        x: ordered.map(function (r) { return r.mase; }),
        marker: {
          color: ordered.map(function (r) {
            return r.model === used.model ? COLORS.forecast : '#94a3b8';
          })
        },
        hovertemplate: '%{y}: MASE %{x:.3f}<extra></extra>'
      }], {
        margin: { l: 130, r: 16, t: 8, b: 36 }, hovermode: 'closest', showlegend: false,
        xaxis: { title: { text: 'MASE (lower is better)' }, gridcolor: '#e2e8f0' },
        yaxis: { automargin: true, type: 'category' }
      });
      table($('leaderboard-table'), columnsOf(rows,
        ['rank', 'model', 'mase', 'rmsse', 'mae', 'rmse', 'smape', 'bias', 'coverage_80',
          'coverage_95', 'time_s', 'series'], ['pinball', 'scaled_pinball']), rows, {
        empty: 'This run has no leaderboard.',
        rowClass: function (row) { return row.model === used.model ? 'highlight' : ''; }
      });
    }).catch(failure());
  }

  // -- data upload -----------------------------------------------------------------------

  function loadDatasets(selectId) {
    return api('/api/datasets').then(function (datasets) {
      state.data.datasets = datasets;
      table($('datasets-table'), [
        { key: 'name' },
        { key: 'series', numeric: true, format: function (v, r) { return fmtNumber(r.profile.series); } },
        { key: 'periods', numeric: true, format: function (v, r) { return fmtNumber(r.profile.periods); } },
        { key: 'frequency', format: function (v, r) { return String(r.profile.frequency || '–'); } },
        { key: 'range', label: 'Dates', format: function (v, r) {
          return fmtDate(r.profile.start) + ' to ' + fmtDate(r.profile.end);
        } },
        { key: 'created_at', label: 'Uploaded', format: fmtTimestamp },
        { key: 'dataset_id', label: 'Id' }
      ], datasets, { empty: 'No dataset yet: upload one above.' });
      var select = clear($('run-dataset'));
      datasets.forEach(function (d) {
        select.appendChild(el('option', {
          value: d.dataset_id,
          text: d.name + ' (' + fmtNumber(d.profile.series) + ' series, ' +
            fmtNumber(d.profile.periods) + ' ' + d.profile.frequency + ' periods)'
        }));
      });
      if (!datasets.length) select.appendChild(el('option', { value: '', text: 'upload a dataset first' }));
      if (selectId) select.value = selectId;
    }).catch(failure());
  }

  function uploadDataset(event) {
    event.preventDefault();
    var file = $('upload-file').files[0];
    var errorNode = $('upload-error');
    setMessage(errorNode, '');
    if (!file) {
      setMessage(errorNode, 'Choose a file first.');
      return;
    }
    var query = new URLSearchParams({ filename: file.name });
    var fields = {
      name: 'upload-name', time_col: 'map-time', target_col: 'map-target',
      price_col: 'map-price', order_col: 'map-order', freq: 'map-freq'
    };
    Object.keys(fields).forEach(function (param) {
      var value = $(fields[param]).value.trim();
      if (value) query.append(param, value);
    });
    $('map-id').value.split(',').forEach(function (column) {
      if (column.trim()) query.append('id_col', column.trim());
    });
    query.append('mode', $('map-mode').value);
    var submit = $('upload-submit');
    submit.disabled = true;
    submit.textContent = 'Uploading…';
    api('/api/datasets?' + query.toString(), {
      method: 'POST', body: file,
      headers: { 'Content-Type': file.type || 'application/octet-stream' }
    }).then(function (dataset) {
      showProfile(dataset);
      $('upload-form').reset();
      return loadDatasets(dataset.dataset_id);
    }).catch(function (error) {
      show($('upload-result'), false);
      failure(errorNode)(error);
    }).then(function () {
      submit.disabled = false;
      submit.textContent = 'Upload';
    });
  }

  function showProfile(dataset) {
    var p = dataset.profile || {};
    var columns = p.columns || {};
    $('upload-result-name').textContent = dataset.name;
    var facts = clear($('upload-profile'));
    [
      ['Series', fmtNumber(p.series)], ['Rows', fmtNumber(p.rows)],
      ['Periods', fmtNumber(p.periods) + ' (' + (p.frequency || '?') + ')'],
      ['Dates', fmtDate(p.start) + ' to ' + fmtDate(p.end)],
      ['Product id', (columns.id_cols || []).join(', ') || '–'],
      ['Date column', columns.time_col || '–'], ['Quantity column', columns.target_col || '–'],
      ['Price column', columns.price_col || '–']
    ].forEach(function (pair) {
      facts.appendChild(el('div', {}, [el('dt', { text: pair[0] }), el('dd', { text: pair[1] })]));
    });
    var cleaning = clear($('upload-cleaning'));
    (p.cleaning || []).forEach(function (line) { cleaning.appendChild(el('li', { text: line })); });
    if (!(p.cleaning || []).length) {
      cleaning.appendChild(el('li', { class: 'muted', text: 'Nothing to clean: every row was usable.' }));
    }
    show($('upload-result'), true);
  }

  // -- run launcher ----------------------------------------------------------------------

  function loadLauncher() {
    var select = $('run-model');
    if (!select.options.length) {
      // the server's model registry, with each model's family
      api('/api/models').then(function (models) {
        models.forEach(function (m) {
          select.appendChild(el('option', { value: m.name, text: m.name + ' (' + m.family + ')' }));
        });
      });
    }
    loadDatasets($('run-dataset').value || null);
    loadRunList();
  }

  function loadRunList() {
    return api('/api/runs?limit=20').then(function (runs) {
      table($('runs-table'), [
        { key: 'run_id', label: 'Run', format: function (v, r) {
          if (r.state !== 'succeeded' || r.kind !== 'run') return String(v);
          return el('button', {
            type: 'button', class: 'link', text: String(v), title: 'Make this the current run',
            onclick: function () {
              refreshRuns(String(v)).then(function () { selectTab('overview'); });
            }
          });
        } },
        { key: 'state', format: function (v) { return el('span', { class: 'state state-' + v, text: v }); } },
        { key: 'model', format: function (v, r) { return String((r.params || {}).model); } },
        { key: 'horizon', numeric: true, format: function (v, r) { return fmtNumber((r.params || {}).horizon); } },
        { key: 'created_at', label: 'Started', format: fmtTimestamp },
        { key: 'finished_at', label: 'Finished', format: fmtTimestamp },
        { key: 'error', format: function (v) { return v ? String(v) : ''; } }
      ], runs, { empty: 'No run yet.' });
      return runs;
    }).catch(failure());
  }

  function startRun(event) {
    event.preventDefault();
    var errorNode = $('run-error');
    setMessage(errorNode, '');
    var lead = $('run-lead').value.trim();
    var body = {
      dataset_id: $('run-dataset').value,
      kind: 'run',
      model: $('run-model').value,
      horizon: Number($('run-horizon').value),
      windows: Number($('run-windows').value),
      lead_time: lead === '' ? null : Number(lead)
    };
    if (!body.dataset_id) {
      setMessage(errorNode, 'Upload a dataset first (Data upload).');
      return;
    }
    $('run-submit').disabled = true;
    api('/api/runs', {
      method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' }
    }).then(function (run) {
      watchRun(run);
      loadRunList();
    }).catch(failure(errorNode)).then(function () { $('run-submit').disabled = false; });
  }

  /* Picks up a run still going when the page is opened, so its progress shows again. */
  function resumeWatching() {
    api('/api/runs?limit=10').then(function (runs) {
      var live = runs.filter(function (r) { return r.state === 'queued' || r.state === 'running'; });
      if (live.length && !state.watching) watchRun(live[0]);
    }).catch(failure());
  }

  function watchRun(run) {
    stopPolling();
    state.watching = run.run_id;
    show($('run-status'), true);
    show($('run-open'), false);
    setMessage($('run-failure'), '');
    setMessage($('run-done'), '');
    $('run-status-id').textContent = run.run_id;
    drawProgress(run);
    poll(run.run_id);
  }

  function poll(runId) {
    state.poll = setTimeout(function () {
      api('/api/runs/' + encodeURIComponent(runId)).then(function (run) {
        if (state.watching !== runId) return;
        drawProgress(run);
        if (run.state === 'queued' || run.state === 'running') poll(runId);
        else finishRun(run);
      }).catch(function (error) {
        if (state.watching === runId && error instanceof ApiError && error.status !== 401) {
          poll(runId);  // a passing hiccup: keep watching
        }
        failure($('run-failure'))(error);
      });
    }, 1000);
  }

  function stopPolling() {
    if (state.poll) clearTimeout(state.poll);
    state.poll = null;
    state.watching = null;
  }

  function drawProgress(run) {
    var progress = run.progress || {};
    var fraction = Math.max(0, Math.min(1, Number(progress.fraction) || 0));
    var percent = Math.round(100 * fraction);
    var bar = $('run-progress');
    bar.setAttribute('aria-valuenow', String(percent));
    bar.setAttribute('data-state', run.state);
    bar.firstElementChild.style.width = percent + '%';
    $('run-state').textContent = run.state + ' · ' + percent + '%';
    $('run-state').className = 'state state-' + run.state;
    $('run-step').textContent = progress.step
      ? progress.step + (progress.elapsed_s !== undefined ? ' (' + fmtNumber(progress.elapsed_s, 0) + ' s)' : '')
      : run.state === 'queued' ? 'waiting for a free worker'
      : run.state === 'running' ? 'starting…' : '';
    var live = run.state === 'queued' || run.state === 'running';
    show($('run-cancel'), live);
  }

  function finishRun(run) {
    state.watching = null;
    state.poll = null;
    loadRunList();
    if (run.state === 'succeeded') {
      refreshRuns(run.run_id).then(function () {
        setMessage($('run-done'), 'Finished: this run is now the current run.');
        show($('run-open'), true);
      });
    } else if (run.state === 'failed') {
      setMessage($('run-failure'), 'The run failed: ' + (run.error || 'see its log.'));
    } else {
      setMessage($('run-failure'), 'The run was ' + run.state + '.');
    }
  }

  function cancelRun() {
    var runId = state.watching;
    if (!runId) return;
    $('run-cancel').disabled = true;
    api('/api/runs/' + encodeURIComponent(runId) + '/cancel', { method: 'POST' }).then(function (run) {
      drawProgress(run);
    }).catch(failure($('run-failure'))).then(function () { $('run-cancel').disabled = !canWrite(); });
  }

  // -- wiring ----------------------------------------------------------------------------

  function init() {
    $('login-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var key = $('login-key').value.trim();
      if (key) login(key);
    });
    $('logout').addEventListener('click', function () { logout(''); });
    $('tabs').addEventListener('click', function (event) {
      var button = event.target.closest('[data-tab]');
      if (button) selectTab(button.getAttribute('data-tab'));
    });
    $('run-picker').addEventListener('change', function () {
      setRun($('run-picker').value || null);
      selectTab(state.tab);
    });
    $('product-search').addEventListener('input', function () {
      clearTimeout(state.searchTimer);
      state.searchTimer = setTimeout(function () {
        searchProducts($('product-search').value.trim(), false);
      }, 250);
    });
    Array.prototype.forEach.call(document.querySelectorAll('[data-export]'), function (button) {
      button.addEventListener('click', function () {
        exportCsv(button.getAttribute('data-export'), button);
      });
    });
    $('upload-form').addEventListener('submit', uploadDataset);
    $('run-form').addEventListener('submit', startRun);
    $('run-cancel').addEventListener('click', cancelRun);
    $('run-open').addEventListener('click', function () { selectTab('overview'); });
    window.addEventListener('hashchange', function () {
      var tab = location.hash.slice(1);
      if (state.key && tab !== state.tab && document.querySelector('[data-tab="' + tab + '"]')) {
        selectTab(tab);
      }
    });

    fetch('/api/health').then(function (res) { return res.json(); }).then(function (health) {
      $('footer').textContent = 'trendcast ' + health.version;
    }, function () { /* the footer is a nicety */ });

    var saved = sessionStorage.getItem(KEY_STORE);
    if (saved) login(saved);
    else showLogin('');
  }

  init();
}());
