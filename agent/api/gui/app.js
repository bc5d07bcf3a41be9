// The Cloudy agent's web GUI: one page, three views (#/federation, #/node,
// #/stats), over the JSON API of the same server (docs/API.md).
// Everything that comes from the federation (names, tags, descriptions) is
// data: nodes are built with createElement/textContent only, never innerHTML,
// and links are only made from http(s) URLs.
(function () {
  'use strict';
  var ALL = window.CLOUDY_STRINGS;
  var lang = (navigator.language || 'en').slice(0, 2);
  var S = ALL[lang] || ALL.en;
  var TYPES = ['serf', 'syncthing', 'tahoe-lafs', 'proxy3', 'dnsservice', 'snpservice', 'peerstreamer'];
  var state = { session: null, info: null, timer: null, svcTab: 'serf', svcHost: '', range: '1d', view: '' };

  function t(key, arg) { var s = S[key] || ALL.en[key] || key; return arg === undefined ? s : s.replace('%s', String(arg)); }

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else if (k === 'className') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) c.forEach(function (x) { if (x) el.appendChild(typeof x === 'string' ? document.createTextNode(x) : x); });
      else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function safeLink(url, label) {
    if (typeof url !== 'string' || !/^https?:\/\/[^\s"'<>]+$/.test(url)) return null;
    var a = h('a', { target: '_blank', rel: 'noopener noreferrer', text: label });
    a.href = url;
    return a;
  }
  function fmtRtt(ms) { return ms === null || ms === undefined ? t('unknown') : (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + ' ms'; }
  function fmtBytes(n) { if (!n) return '—'; var u = ['B', 'KiB', 'MiB', 'GiB']; var i = 0; while (n >= 1024 && i < 3) { n /= 1024; i++; } return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + ' ' + u[i]; }

  function api(method, path, body) {
    var headers = { 'accept': 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && state.session && state.session.csrf) headers['x-csrf-token'] = state.session.csrf;
    return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' })
      .then(function (r) {
        var ct = r.headers.get('content-type') || '';
        var p = ct.indexOf('json') >= 0 ? r.json() : r.text();
        return p.then(function (data) {
          if (!r.ok) {
            var e = new Error(data && data.error ? data.error.message : 'HTTP ' + r.status);
            e.status = r.status; e.code = data && data.error ? data.error.code : ''; e.field = data && data.error ? data.error.field : undefined;
            if (r.status === 401 && state.session && state.session.authenticated) { state.session = null; boot(); }
            throw e;
          }
          return data;
        });
      });
  }

  // --- header and routing ---------------------------------------------------
  function renderHeader() {
    var hd = clear(document.getElementById('header'));
    var s = state.session;
    if (!s) return;
    var info = state.info;
    var mode = s.node.mode === 'full' ? t('modeFull') : t('modeEdge');
    hd.appendChild(h('span', { className: 'node', id: 'node-name', text: s.node.name }));
    hd.appendChild(h('span', { className: 'badge', text: mode }));
    if (info) hd.appendChild(h('span', { className: 'badge', id: 'fed-size', text: t('members') + ': ' + info.alive_members + ' ' + t('membersAlive') }));
    if (!s.authenticated && s.guest_view) hd.appendChild(h('span', { className: 'badge', text: t('guestNote') }));
    var nav = h('nav');
    var links = [['#/federation', t('navFederation')]];
    if (s.authenticated) links.push(['#/node', t('navNode')]);
    if (s.authenticated && window.CLOUDY_GUIFI) links.push(['#/guifi', t('navGuifi')]);
    links.push(['#/stats', t('navStats')]);
    links.forEach(function (l) { nav.appendChild(h('a', { href: l[0], className: location.hash === l[0] ? 'active' : '', text: l[1] })); });
    if (s.authenticated) nav.appendChild(h('button', { className: 'link', id: 'logout', text: t('logout'), onclick: logout }));
    else nav.appendChild(h('a', { href: '#/login', text: t('login') }));
    hd.appendChild(nav);
  }

  function route() {
    if (state.timer) { clearInterval(state.timer); state.timer = null; }
    var s = state.session;
    var view = (location.hash || '').replace(/^#\//, '') || 'federation';
    if (!s) return;
    if (!s.authenticated && (view === 'login' || !s.guest_view)) {
      if (!s.password_set) return renderNoPassword();
      return renderLogin();
    }
    if ((view === 'node' || view === 'guifi') && !s.authenticated) view = 'federation';
    // #/node/NAME: one member's page (an edge node's management proxy opens it for that edge node).
    var member = view.indexOf('node/') === 0 ? decodeURIComponent(view.slice(5)) : null;
    state.view = view;
    renderHeader();
    var main = clear(document.getElementById('main'));
    if (member !== null) return viewMember(main, member);
    if (view === 'node') return viewNode(main);
    // guifi.net registration lives in guifi.js (it is given the helpers it needs).
    if (view === 'guifi' && window.CLOUDY_GUIFI) return window.CLOUDY_GUIFI.view(main, guiLib());
    if (view === 'stats') return viewStats(main);
    return viewFederation(main);
  }

  function refreshInfo() {
    return api('GET', '/api/v1/info').then(function (i) { state.info = i; renderHeader(); }).catch(function () {});
  }

  function every(ms, fn) { fn(); state.timer = setInterval(fn, ms); }

  // --- login ----------------------------------------------------------------
  function renderNoPassword() {
    clear(document.getElementById('header'));
    var main = clear(document.getElementById('main'));
    main.appendChild(h('section', { className: 'login', id: 'no-password' },
      h('h2', { text: t('noPasswordTitle') }), h('p', { text: t('noPasswordText') }), h('pre', { className: 'cmd', text: t('noPasswordCmd') }), h('p', { text: t('noPasswordAfter') })));
  }

  function renderLogin() {
    clear(document.getElementById('header'));
    var main = clear(document.getElementById('main'));
    var msg = h('p', { className: 'error', id: 'login-error' });
    var pw = h('input', { type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true });
    var form = h('form', { id: 'login-form', onsubmit: function (ev) {
      ev.preventDefault();
      msg.textContent = '';
      api('POST', '/api/v1/session', { password: pw.value }).then(function () { if (!location.hash || location.hash === '#/login') location.hash = '#/federation'; boot(); })
        .catch(function (e) { msg.textContent = t('loginFailed') + ': ' + e.message; });
    } }, h('label', null, t('password'), pw), h('p'), h('button', { className: 'primary', type: 'submit', text: t('login') }));
    main.appendChild(h('section', { className: 'login' }, h('h2', { text: t('loginTitle') }), form, msg));
  }

  function logout() {
    api('DELETE', '/api/v1/session').catch(function () {}).then(function () { state.session = null; location.hash = '#/federation'; boot(); });
  }

  // --- federation -------------------------------------------------------------
  function viewFederation(main) {
    var membersBody = h('tbody', { id: 'members-body' });
    var membersNote = h('span', { className: 'muted', id: 'members-updated' });
    main.appendChild(h('section', { id: 'members' },
      h('h2', null, t('members') + ' ', membersNote),
      h('table', null, h('thead', null, h('tr', null,
        h('th', { text: t('colName') }), h('th', { className: 'hide-narrow', text: t('colAddress') }), h('th', { text: t('colStatus') }),
        h('th', { text: t('colMode') }), h('th', { text: t('colRtt') }), h('th', { text: t('colServices') }))), membersBody)));

    var tabs = h('div', { className: 'tabs', id: 'service-tabs' });
    var host = h('input', { type: 'search', id: 'service-host', placeholder: t('searchHost'), value: state.svcHost,
      oninput: function () { state.svcHost = host.value; loadServices(); } });
    var svcBody = h('tbody', { id: 'services-body' });
    main.appendChild(h('section', { id: 'services' }, h('h2', { text: t('services') }), tabs, h('p', null, host),
      h('table', null, h('thead', null, h('tr', null,
        h('th', { text: t('colDescription') }), h('th', { text: t('colHost') }), h('th', { className: 'hide-narrow', text: t('colIp') }),
        h('th', { text: t('colPort') }), h('th', { text: t('colRtt') }), h('th', { className: 'hide-narrow', text: t('colNode') }), h('th', { text: t('colWeb') }))), svcBody)));

    function loadMembers() {
      return api('GET', '/api/v1/members').then(function (r) {
        clear(membersBody);
        r.members.sort(function (a, b) { return (a.rtt_ms === null) - (b.rtt_ms === null) || (a.rtt_ms || 0) - (b.rtt_ms || 0) || (a.name < b.name ? -1 : 1); });
        r.members.forEach(function (m) {
          membersBody.appendChild(h('tr', { 'data-name': m.name },
            h('td', null, h('a', { href: '#/node/' + encodeURIComponent(m.name), text: m.name })), h('td', { className: 'hide-narrow', text: m.addr + ':' + m.port }),
            h('td', { className: 'status-' + m.status, text: m.status }), h('td', { text: m.mode }),
            h('td', { className: 'num', text: fmtRtt(m.rtt_ms) }), h('td', { className: 'num', text: m.services === null ? t('unknown') : m.services })));
        });
        membersNote.textContent = '(' + r.total + ', ' + t('lastUpdate', new Date().toLocaleTimeString()) + ')';
      }).catch(function (e) { membersNote.textContent = e.message; membersNote.className = 'error'; });
    }

    function loadServices() {
      var q = '?sort=rtt' + (state.svcHost ? '&host=' + encodeURIComponent(state.svcHost) : '');
      return api('GET', '/api/v1/services' + q).then(function (r) {
        var counts = {}; var others = 0;
        r.services.forEach(function (e) { if (TYPES.indexOf(e.s) >= 0) counts[e.s] = (counts[e.s] || 0) + 1; else others++; });
        clear(tabs);
        TYPES.concat(['others']).forEach(function (ty) {
          var n = ty === 'others' ? others : (counts[ty] || 0);
          tabs.appendChild(h('button', { type: 'button', 'data-type': ty, className: state.svcTab === ty ? 'active' : '',
            text: (ty === 'others' ? t('tabOthers') : ty) + ' (' + n + ')', onclick: function () { state.svcTab = ty; loadServices(); } }));
        });
        clear(svcBody);
        var rows = r.services.filter(function (e) { return state.svcTab === 'others' ? TYPES.indexOf(e.s) < 0 : e.s === state.svcTab; });
        if (!rows.length) svcBody.appendChild(h('tr', null, h('td', { colspan: 7, className: 'muted', text: t('nothing') })));
        rows.forEach(function (e) {
          svcBody.appendChild(h('tr', { 'data-type': e.s },
            h('td', { text: (state.svcTab === 'others' ? '[' + e.s + '] ' : '') + e.d }), h('td', { text: e.m }), h('td', { className: 'hide-narrow', text: e.i }),
            h('td', { className: 'num', text: e.p }), h('td', { className: 'num', text: fmtRtt(e.rtt_ms) }),
            h('td', { className: 'hide-narrow', text: e.node_id }), h('td', null, safeLink(e.web_url, t('open')))));
        });
      }).catch(function (e) { clear(svcBody).appendChild(h('tr', null, h('td', { className: 'error', text: e.message }))); });
    }

    every(3000, function () { loadMembers(); loadServices(); refreshInfo(); });
  }

  function viewMember(main, name) {
    var box = h('section', { id: 'member' }, h('h2', { text: name }));
    main.appendChild(box);
    var tagsBody = h('tbody'), svcBody = h('tbody', { id: 'member-services' }), facts = h('p', { id: 'member-facts' });
    box.appendChild(facts);
    box.appendChild(h('h2', { text: t('tags') }));
    box.appendChild(h('table', null, tagsBody));
    box.appendChild(h('h2', { text: t('services') }));
    box.appendChild(h('table', null, h('thead', null, h('tr', null, h('th', { text: t('colType') }), h('th', { text: t('colDescription') }),
      h('th', { text: t('colIp') }), h('th', { text: t('colPort') }), h('th', { text: t('colWeb') }))), svcBody));
    every(4000, function () {
      api('GET', '/api/v1/members/' + encodeURIComponent(name)).then(function (m) {
        facts.className = '';
        facts.textContent = m.addr + ':' + m.port + ' · ' + m.status + ' · ' + m.mode + ' · ' + t('colRtt') + ' ' + fmtRtt(m.rtt_ms);
        clear(tagsBody);
        Object.keys(m.tags).sort().forEach(function (k) { tagsBody.appendChild(h('tr', null, h('th', { text: k }), h('td', { text: m.tags[k] }))); });
        clear(svcBody);
        (m.services || []).forEach(function (r) {
          svcBody.appendChild(h('tr', { 'data-type': r.s }, h('td', { text: r.s }), h('td', { text: r.d }), h('td', { text: r.i }), h('td', { className: 'num', text: r.p }), h('td', null, safeLink(r.web_url, t('open')))));
        });
      }).catch(function (e) { facts.className = 'error'; facts.textContent = e.message; });
      refreshInfo();
    });
    if (state.session && state.session.authenticated && (!state.info || state.info.name !== name)) manageRemote(box, name);
  }

  // --- another node, managed by remote control (remote.view / remote.run, signed with this
  // node's operator key). Whatever the other node answers is shown as text, never as HTML.
  function manageRemote(box, name) {
    var sec = h('section', { id: 'remote' });
    box.appendChild(sec);
    var svcOut = h('pre', { id: 'remote-services', className: 'out' }), ctOut = h('pre', { id: 'remote-containers', className: 'out' });
    var result = h('pre', { id: 'remote-result', className: 'out' });
    function remote(cmdName, command, args) {
      return api('POST', '/api/v1/commands/' + cmdName, { Node: name, Command: command, Args: args, TimeoutMs: 30000 }).then(function (r) {
        var res = (r.result && r.result.Results) || [];
        if (!res.length) throw new Error(t('remoteNoAnswer', name));
        var x = res[0];
        if (x.Status !== 'ok') throw new Error(t('remoteRefused', x.Reason || x.Status) + (x.Stderr ? ' — ' + x.Stderr : ''));
        return x;
      });
    }
    function show(el, command, args) {
      return remote('remote.view', command, args).then(function (x) { el.className = 'out'; el.textContent = x.Stdout + x.Stderr; })
        .catch(function (e) { el.className = 'out error'; el.textContent = e.message; });
    }
    function reload() { return Promise.all([show(svcOut, 'services', []), show(ctOut, 'lxc', ['list'])]); }
    function act(args, command) {
      result.className = 'out muted'; result.textContent = t('working', 0);
      return remote('remote.run', command, args).then(function (x) {
        result.className = x.Exit === 0 ? 'out ok' : 'out error';
        result.textContent = (x.Exit === 0 ? t('done') + '\n' : t('failed', 'exit ' + x.Exit) + '\n') + x.Stdout + x.Stderr;
        return reload();
      }).catch(function (e) { result.className = 'out error'; result.textContent = e.message; });
    }
    var pd = h('input', { name: 'description', id: 'remote-pub-description', required: true }), pt = h('input', { name: 'type', id: 'remote-pub-type', required: true }),
      pp = h('input', { name: 'port', id: 'remote-pub-port', type: 'number', min: 1, max: 65535, required: true });
    var pubForm = h('form', { className: 'grid', id: 'remote-publish-form', onsubmit: function (ev) {
      ev.preventDefault();
      act([pd.value, pt.value, String(pp.value)], 'publish');
    } }, h('label', null, t('fDescription'), pd), h('label', null, t('fType'), pt), h('label', null, t('fPort'), pp),
      h('button', { className: 'primary', type: 'submit', text: t('publish') }));
    var cn = h('input', { name: 'name', id: 'remote-create-name', required: true, pattern: '[a-z0-9][a-z0-9-]*' }),
      ctpl = h('input', { name: 'template', id: 'remote-create-template', value: 'busybox', required: true }),
      cstart = h('input', { type: 'checkbox', name: 'start', id: 'remote-create-start', checked: true });
    var createForm = h('form', { className: 'grid', id: 'remote-create-form', onsubmit: function (ev) {
      ev.preventDefault();
      act(['create', cn.value, '-t', ctpl.value].concat(cstart.checked ? ['-start'] : []), 'lxc');
    } }, h('label', null, t('fName'), cn), h('label', null, t('fTemplate'), ctpl), h('label', { className: 'check' }, cstart, t('fStart')),
      h('button', { className: 'primary', type: 'submit', text: t('create') }));
    var ut = h('input', { name: 'type', id: 'remote-unpub-type', required: true }),
      up = h('input', { name: 'port', id: 'remote-unpub-port', type: 'number', min: 1, max: 65535, required: true });
    var unpubForm = h('form', { className: 'grid', id: 'remote-unpublish-form', onsubmit: function (ev) {
      ev.preventDefault();
      act([ut.value, String(up.value)], 'unpublish');
    } }, h('label', null, t('fType'), ut), h('label', null, t('fPort'), up), h('button', { type: 'submit', text: t('unpublish') }));
    var an = h('input', { name: 'name', id: 'remote-action-name', required: true, pattern: '[a-z0-9][a-z0-9-]*' });
    var asel = h('select', { name: 'action', id: 'remote-action' });
    ['start', 'stop', 'restart', 'destroy'].forEach(function (a) { asel.appendChild(h('option', { value: a, text: t(a) })); });
    var actionForm = h('form', { className: 'grid', id: 'remote-action-form', onsubmit: function (ev) {
      ev.preventDefault();
      if (asel.value === 'destroy' && !confirm(t('confirmDestroy', an.value))) return;
      act([asel.value, an.value], 'lxc');
    } }, h('label', null, t('fName'), an), h('label', null, t('colActions'), asel), h('button', { type: 'submit', text: t('remoteApply') }));
    sec.appendChild(h('h2', { text: t('remoteTitle') }));
    sec.appendChild(h('p', { className: 'muted', text: t('remoteNote') }));
    sec.appendChild(h('h2', { text: t('services') })); sec.appendChild(svcOut); sec.appendChild(pubForm); sec.appendChild(unpubForm);
    sec.appendChild(h('h2', { text: t('containers') })); sec.appendChild(ctOut); sec.appendChild(actionForm);
    sec.appendChild(h('h2', { text: t('createTitle') })); sec.appendChild(createForm);
    sec.appendChild(result);
    reload();
  }

  // --- this node ----------------------------------------------------------------
  function guiLib() { return { h: h, clear: clear, api: api, t: t, errorAt: errorAt }; }

  function errorAt(el, e) {
    el.className = 'row-msg error';
    el.textContent = t('failed', e.message + (e.field ? ' [' + e.field + ']' : ''));
  }

  function runJob(path, body, msgEl, after) {
    msgEl.className = 'row-msg muted';
    var started = Date.now();
    msgEl.textContent = t('working', 0);
    return api('POST', path, body).then(function (job) {
      return new Promise(function (resolve) {
        function poll() {
          api('GET', '/api/v1/jobs/' + encodeURIComponent(job.id)).then(function (j) {
            if (j.state === 'running') {
              msgEl.textContent = t('working', Math.round((Date.now() - started) / 1000)) + (j.progress ? ' — ' + j.progress : '');
              setTimeout(poll, 1000);
              return;
            }
            if (j.state === 'failed') errorAt(msgEl, j.error);
            else { msgEl.className = 'row-msg ok'; msgEl.textContent = t('done'); }
            resolve(j); if (after) after();
          }).catch(function (e) { errorAt(msgEl, e); resolve(null); });
        }
        poll();
      });
    }).catch(function (e) { errorAt(msgEl, e); if (after) after(); });
  }

  function viewNode(main) {
    var tagsBody = h('tbody', { id: 'tags-body' });
    main.appendChild(h('section', { id: 'tags' }, h('h2', { text: t('tags') }), h('table', null, tagsBody)));
    if (window.CLOUDY_GUIFI) { var gf = h('section', { id: 'guifi' }); main.appendChild(gf); window.CLOUDY_GUIFI.nodeSummary(gf, guiLib()); }

    var pubBody = h('tbody', { id: 'published-body' });
    var pubMsg = h('p', { className: 'row-msg', id: 'publish-msg' });
    var pd = h('input', { name: 'description', required: true }), pt = h('input', { name: 'type', required: true }),
      pp = h('input', { name: 'port', type: 'number', min: 1, max: 65535, required: true }), px = h('input', { name: 'txt' });
    var pubForm = h('form', { className: 'grid', id: 'publish-form', onsubmit: function (ev) {
      ev.preventDefault();
      pubMsg.textContent = '';
      api('POST', '/api/v1/node/services', { description: pd.value, type: pt.value, port: Number(pp.value), txt: px.value })
        .then(function () { pubMsg.className = 'row-msg ok'; pubMsg.textContent = t('done'); loadNode(); })
        .catch(function (e) { errorAt(pubMsg, e); });
    } }, h('label', null, t('fDescription'), pd), h('label', null, t('fType'), pt), h('label', null, t('fPort'), pp), h('label', null, t('fTxt'), px),
      h('button', { className: 'primary', type: 'submit', text: t('publish') }));
    main.appendChild(h('section', { id: 'published' }, h('h2', { text: t('published') }),
      h('table', null, h('thead', null, h('tr', null, h('th', { text: t('colType') }), h('th', { text: t('colDescription') }), h('th', { text: t('colPort') }), h('th', { text: t('colActions') }))), pubBody),
      h('p'), pubForm, pubMsg));

    var ctBody = h('tbody', { id: 'containers-body' });
    var ctNote = h('p', { className: 'muted', id: 'containers-note' });
    var createMsg = h('p', { className: 'row-msg', id: 'create-msg' });
    var tplSel = h('select', { name: 'template', id: 'create-template' });
    var cn = h('input', { name: 'name', id: 'create-name', required: true, pattern: '[a-z0-9][a-z0-9-]*' }),
      cm = h('input', { name: 'memory', id: 'create-memory', placeholder: '128M' }),
      cst = h('input', { name: 'service_type', id: 'create-service-type' }),
      csp = h('input', { name: 'service_port', id: 'create-service-port', type: 'number', min: 1, max: 65535 }),
      chp = h('input', { name: 'host_port', id: 'create-host-port', type: 'number', min: 1, max: 65535 }),
      cargs = h('input', { name: 'template_args', id: 'create-args', placeholder: '--port 8080' }),
      cauto = h('input', { type: 'checkbox', name: 'autostart', id: 'create-autostart' }),
      cstart = h('input', { type: 'checkbox', name: 'start', id: 'create-start', checked: true });
    var templates = [];
    tplSel.addEventListener('change', function () {
      var tp = templates.filter(function (x) { return x.name === tplSel.value; })[0];
      cargs.placeholder = tp && tp.options.length ? tp.options.join(' ') : '';
    });
    var createForm = h('form', { className: 'grid', id: 'create-form', onsubmit: function (ev) {
      ev.preventDefault();
      var body = { name: cn.value, template: tplSel.value, autostart: cauto.checked, start: cstart.checked };
      if (cm.value) body.memory = cm.value;
      if (cst.value) body.service_type = cst.value;
      if (csp.value) body.service_port = Number(csp.value);
      if (chp.value) body.host_port = Number(chp.value);
      if (cargs.value.trim()) body.template_args = cargs.value.trim().split(/\s+/);
      runJob('/api/v1/node/containers', body, createMsg, loadNode);
    } }, h('label', null, t('fName'), cn), h('label', null, t('fTemplate'), tplSel), h('label', null, t('fMemory'), cm),
      h('label', null, t('fServiceType'), cst), h('label', null, t('fServicePort'), csp), h('label', null, t('fHostPort'), chp), h('label', null, t('fTemplateArgs'), cargs),
      h('label', { className: 'check' }, cauto, t('fAutostart')), h('label', { className: 'check' }, cstart, t('fStart')),
      h('button', { className: 'primary', type: 'submit', id: 'create-submit', text: t('create') }));
    main.appendChild(h('section', { id: 'containers' }, h('h2', { text: t('containers') }), ctNote,
      h('table', null, h('thead', null, h('tr', null, h('th', { text: t('colName') }), h('th', { text: t('colState') }), h('th', { text: t('colMemory') }),
        h('th', { text: t('colAutostart') }), h('th', { className: 'hide-narrow', text: t('colTemplate') }), h('th', { text: t('colServices') }), h('th', { text: t('colActions') }))), ctBody),
      h('h2', { text: t('createTitle') }), createForm, createMsg));

    api('GET', '/api/v1/node/templates').then(function (r) {
      templates = r.templates;
      clear(tplSel);
      templates.forEach(function (tp) { tplSel.appendChild(h('option', { value: tp.name, text: tp.name + ' — ' + tp.description })); });
    }).catch(function () {});

    function loadNode() {
      api('GET', '/api/v1/info').then(function (i) {
        clear(tagsBody);
        Object.keys(i.tags || {}).sort().forEach(function (k) { tagsBody.appendChild(h('tr', null, h('th', { text: k }), h('td', { text: i.tags[k] }))); });
      }).catch(function () {});
      api('GET', '/api/v1/node/services').then(function (r) {
        clear(pubBody);
        r.services.forEach(function (s) {
          var msg = h('span', { className: 'row-msg' });
          pubBody.appendChild(h('tr', { 'data-type': s.type, 'data-port': s.port }, h('td', { text: s.type }), h('td', { text: s.description }), h('td', { className: 'num', text: s.port }),
            h('td', null, h('button', { type: 'button', text: t('unpublish'), onclick: function () {
              api('DELETE', '/api/v1/node/services/' + encodeURIComponent(s.type) + '/' + s.port).then(loadNode).catch(function (e) { errorAt(msg, e); });
            } }), msg)));
        });
      }).catch(function (e) { errorAt(pubMsg, e); });
      api('GET', '/api/v1/node/containers').then(function (r) {
        ctNote.textContent = '';
        clear(ctBody);
        r.containers.forEach(function (c) {
          var msg = h('span', { className: 'row-msg' });
          function act(a) {
            return h('button', { type: 'button', 'data-action': a, className: a === 'destroy' ? 'danger' : '', text: t(a), onclick: function () {
              if (a === 'destroy' && !confirm(t('confirmDestroy', c.name))) return;
              runJob(a === 'destroy' ? '/api/v1/node/containers/' + encodeURIComponent(c.name) + '/destroy' : '/api/v1/node/containers/' + encodeURIComponent(c.name) + '/' + a, {}, msg, loadNode);
            } });
          }
          var svc = c.service ? c.service.type + ':' + c.service.host_port + (c.service.published ? ' ✓' : '') : '—';
          ctBody.appendChild(h('tr', { 'data-name': c.name },
            h('td', { text: c.name }), h('td', { className: 'state', text: c.state }), h('td', { className: 'num', text: fmtBytes(c.memory_bytes) }),
            h('td', { text: c.autostart ? '✓' : '—' }), h('td', { className: 'hide-narrow', text: c.template }), h('td', { className: 'service', text: svc }),
            h('td', null, h('div', { className: 'actions' }, act('start'), act('stop'), act('restart'), act('destroy')), msg)));
        });
      }).catch(function (e) { ctNote.className = 'error'; ctNote.textContent = t('noContainers', e.message); });
    }
    every(4000, function () { loadNode(); refreshInfo(); });
  }

  // --- statistics ------------------------------------------------------------------
  var COLORS = ['#1f6feb', '#137333', '#b42318', '#8250df', '#bf8700', '#0a7ea4', '#cf222e', '#6e7781', '#116329', '#953800', '#3d2c8d', '#57606a', '#e16f24', '#2da44e'];
  var SVGNS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs) { var el = document.createElementNS(SVGNS, tag); for (var k in attrs) el.setAttribute(k, String(attrs[k])); return el; }

  /** A line chart of some columns of a history series, drawn as SVG by hand (no library, no CDN). */
  function chart(series, cols, id) {
    var W = 800, H = 260, L = 44, R = 10, T = 10, B = 24;
    var svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', id: id, role: 'img' });
    var pts = series.points;
    var span = { '1h': 3600e3, '1d': 86400e3, '1w': 7 * 86400e3, '1m': 30 * 86400e3, '1y': 365 * 86400e3 }[series.range];
    var t1 = Date.now(), t0 = t1 - span;
    var max = 1;
    cols.forEach(function (c) { var i = series.columns.indexOf(c) + 1; pts.forEach(function (p) { if (p[i] > max) max = p[i]; }); });
    max = Math.ceil(max * 1.1);
    function x(tm) { return L + (W - L - R) * (tm - t0) / (t1 - t0); }
    function y(v) { return T + (H - T - B) * (1 - v / max); }
    svg.appendChild(s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
    svg.appendChild(s('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
    [0, 0.5, 1].forEach(function (f) {
      var v = Math.round(max * f);
      var tx = s('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end' }); tx.textContent = String(v); svg.appendChild(tx);
    });
    [0, 0.5, 1].forEach(function (f) {
      var tm = t0 + (t1 - t0) * f;
      var d = new Date(tm);
      var label = span <= 86400e3 ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : d.toLocaleDateString();
      var tx = s('text', { x: x(tm), y: H - 6, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' }); tx.textContent = label; svg.appendChild(tx);
    });
    cols.forEach(function (c, k) {
      var i = series.columns.indexOf(c) + 1;
      var color = COLORS[k % COLORS.length];
      var d = pts.map(function (p, j) { return (j ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[i]).toFixed(1); }).join(' ');
      if (pts.length > 1) svg.appendChild(s('path', { d: d, fill: 'none', stroke: color, 'stroke-width': 2, 'data-series': c }));
      pts.forEach(function (p) { svg.appendChild(s('circle', { cx: x(p[0]).toFixed(1), cy: y(p[i]).toFixed(1), r: pts.length > 200 ? 1 : 2.5, fill: color, class: 'point', 'data-series': c })); });
    });
    return svg;
  }

  function legend(cols, names) {
    return h('div', { className: 'legend' }, cols.map(function (c, k) { var el = h('span', { text: names[k] || c }); el.style.setProperty('--c', COLORS[k % COLORS.length]); return el; }));
  }

  function viewStats(main) {
    var ranges = ['1h', '1d', '1w', '1m', '1y'];
    var tabs = h('div', { className: 'tabs', id: 'range-tabs' });
    var box = h('div', { id: 'chart-box' });
    var box2 = h('div', { id: 'chart-types-box' });
    var exp = h('p', { id: 'export' });
    main.appendChild(h('section', { id: 'stats' }, h('h2', { text: t('statsTitle') }), tabs, box, exp));
    main.appendChild(h('section', { id: 'stats-types' }, h('h2', { text: t('byType') }), box2));
    function load() {
      clear(tabs);
      ranges.forEach(function (r) { tabs.appendChild(h('button', { type: 'button', 'data-range': r, className: state.range === r ? 'active' : '', text: t('range' + r), onclick: function () { state.range = r; load(); } })); });
      clear(exp);
      exp.appendChild(safeLink(location.origin + '/api/v1/history?format=csv&range=' + state.range, t('exportCsv')));
      exp.appendChild(document.createTextNode(' · '));
      exp.appendChild(safeLink(location.origin + '/api/v1/history?format=json&range=' + state.range, t('exportJson')));
      api('GET', '/api/v1/history?range=' + state.range).then(function (sr) {
        clear(box); clear(box2);
        if (!sr.points.length) { box.appendChild(h('p', { className: 'muted', id: 'no-points', text: t('noPoints') })); return; }
        var main3 = ['alive_members', 'cloudy_instances', 'services'];
        box.appendChild(chart(sr, main3, 'chart-federation'));
        box.appendChild(legend(main3, [t('seriesAlive'), t('seriesInstances'), t('seriesServices')]));
        var typeCols = sr.columns.slice(3).filter(function (c) { var i = sr.columns.indexOf(c) + 1; return sr.points.some(function (p) { return p[i] > 0; }); });
        if (typeCols.length) { box2.appendChild(chart(sr, typeCols, 'chart-types')); box2.appendChild(legend(typeCols, [])); }
      }).catch(function (e) { clear(box).appendChild(h('p', { className: 'error', text: e.message })); });
    }
    every(60000, function () { load(); refreshInfo(); });
  }

  // --- boot ----------------------------------------------------------------------------
  function boot() {
    api('GET', '/api/v1/session').then(function (s) {
      state.session = s;
      document.title = t('title') + ' — ' + s.node.name;
      if (s.authenticated || s.guest_view) refreshInfo();
      route();
    }).catch(function (e) { clear(document.getElementById('main')).appendChild(h('p', { className: 'error', text: e.message })); });
  }
  window.addEventListener('hashchange', route);
  boot();
})();
