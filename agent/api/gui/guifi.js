// guifi.net registration page (#/guifi) with Cloudy's steps: log in to
// guifi.net, give the node id, pick this box's cloudy device or create one,
// pick the device that gives it an IPv4, declare services; plus the
// registration line on the node page. Everything goes through the guifi.*
// commands of the registry (POST /api/v1/commands/guifi.*), the same code as
// `cloudy-agent guifi ...`. Data from guifi.net is shown with textContent only.
(function () {
  'use strict';
  var SERVICES = ['SNPgraphs', 'DNS', 'Proxy'];

  function cmd(lib, name, body) {
    return lib.api('POST', '/api/v1/commands/' + name, body || {}).then(function (r) { return r.result; });
  }

  function ipv4Of(dev) {
    return (dev.IPv4 || []).map(function (i) { return i.Address + (i.Mask ? '/' + i.Mask : ''); }).join(', ');
  }

  /** One line for the node page: registered or not, and where. */
  function nodeSummary(el, lib) {
    var h = lib.h, t = lib.t;
    lib.clear(el).appendChild(h('h2', { text: t('guifiTitle') }));
    var p = h('p', { id: 'guifi-summary', className: 'muted', text: '…' });
    el.appendChild(p);
    cmd(lib, 'guifi.status').then(function (s) {
      p.className = '';
      if (s.Registered) p.textContent = t('guifiRegisteredAs', s.Device.Title + ' (' + s.DeviceId + ')') + ' — ' + t('guifiNode') + ' ' + s.NodeName + ' (' + s.NodeId + '), IPv4 ' + ipv4Of(s.Device);
      else p.textContent = t('guifiNotRegistered');
      el.appendChild(h('p', null, h('a', { href: '#/guifi', text: t('guifiManage') })));
    }).catch(function (e) { lib.errorAt(p, e); });
  }

  function view(main, lib) {
    var h = lib.h, t = lib.t, clear = lib.clear;
    var statusBody = h('tbody', { id: 'guifi-status' });
    main.appendChild(h('section', { id: 'guifi-state' }, h('h2', { text: t('guifiTitle') }), h('table', null, statusBody)));

    // Step 1: guifi.net account (the token is kept, the password is not).
    var user = h('input', { id: 'guifi-user', name: 'user', required: true, autocomplete: 'username' });
    var pass = h('input', { id: 'guifi-password', name: 'password', type: 'password', required: true, autocomplete: 'current-password' });
    var loginMsg = h('p', { className: 'row-msg', id: 'guifi-login-msg' });
    var loginForm = h('form', { className: 'grid', id: 'guifi-login-form', onsubmit: function (ev) {
      ev.preventDefault();
      loginMsg.textContent = '';
      cmd(lib, 'guifi.login', { User: user.value, Password: pass.value }).then(function () {
        pass.value = '';
        loginMsg.className = 'row-msg ok'; loginMsg.textContent = t('done');
        loadStatus();
      }).catch(function (e) { lib.errorAt(loginMsg, e); });
    } }, h('label', null, t('guifiUser'), user), h('label', null, t('password'), pass),
      h('button', { className: 'primary', type: 'submit', text: t('guifiLogin') }));
    main.appendChild(h('section', { id: 'guifi-login' }, h('h2', { text: t('guifiStepLogin') }), loginForm, loginMsg));

    // Step 2: the node, read from its CNML; steps 3-5 appear once it is read.
    var nodeId = h('input', { id: 'guifi-node-id', name: 'node_id', type: 'number', min: 1, required: true });
    var nodeMsg = h('p', { className: 'row-msg', id: 'guifi-node-msg' });
    var steps = h('div', { id: 'guifi-steps' });
    var nodeForm = h('form', { className: 'grid', id: 'guifi-node-form', onsubmit: function (ev) {
      ev.preventDefault();
      nodeMsg.textContent = '';
      clear(steps);
      cmd(lib, 'guifi.node', { NodeId: Number(nodeId.value) }).then(function (n) { renderSteps(n); })
        .catch(function (e) { lib.errorAt(nodeMsg, e); });
    } }, h('label', null, t('guifiNodeId'), nodeId), h('button', { type: 'submit', text: t('guifiReadNode') }));
    main.appendChild(h('section', { id: 'guifi-node' }, h('h2', { text: t('guifiStepNode') }), nodeForm, nodeMsg, steps));

    function renderSteps(n) {
      var title = h('p', { id: 'guifi-node-title', text: t('guifiNode') + ' ' + n.Title + ' (' + n.NodeId + '), ' + n.Devices.length + ' ' + t('guifiDevices') });
      // Step 3: pick a cloudy device, or create one (default nick as Cloudy's).
      var devSel = h('select', { id: 'guifi-device', name: 'device' });
      devSel.appendChild(h('option', { value: '', text: t('guifiNewDevice') }));
      n.Devices.filter(function (d) { return d.Type === 'cloudy'; }).forEach(function (d) {
        devSel.appendChild(h('option', { value: String(d.Id), text: d.Title + ' (' + d.Id + (d.Mac ? ', ' + d.Mac : '') + (d.IPv4.length ? ', ' + ipv4Of(d) : '') + ')' }));
      });
      var nick = h('input', { id: 'guifi-device-name', name: 'device_name', pattern: '[A-Za-z0-9_-]+', placeholder: t('guifiDefaultNick') });
      var email = h('input', { id: 'guifi-email', name: 'email', type: 'email' });
      // Step 4: the device that gives this box an IPv4.
      var linkSel = h('select', { id: 'guifi-link-device', name: 'link_device' });
      linkSel.appendChild(h('option', { value: '', text: t('guifiLinkAuto') }));
      n.Devices.filter(function (d) { return d.IPv4.length > 0; }).forEach(function (d) {
        linkSel.appendChild(h('option', { value: String(d.Id), text: d.Title + ' (' + d.Type + ', ' + ipv4Of(d) + ')' }));
      });
      // Step 5: services.
      var checks = SERVICES.map(function (s) { return h('input', { type: 'checkbox', name: 'service', value: s, id: 'guifi-svc-' + s }); });
      var regMsg = h('p', { className: 'row-msg', id: 'guifi-register-msg' });
      var regForm = h('form', { className: 'grid', id: 'guifi-register-form', onsubmit: function (ev) {
        ev.preventDefault();
        regMsg.className = 'row-msg'; regMsg.textContent = t('guifiRegistering');
        var body = { NodeId: n.NodeId, Services: checks.filter(function (c) { return c.checked; }).map(function (c) { return c.value; }) };
        if (devSel.value) body.DeviceId = Number(devSel.value);
        else if (nick.value) body.DeviceName = nick.value;
        if (email.value) body.Email = email.value;
        if (linkSel.value) body.LinkDevice = Number(linkSel.value);
        cmd(lib, 'guifi.register', body).then(function (r) {
          regMsg.className = 'row-msg ok';
          regMsg.textContent = t('guifiRegisteredAs', r.Device.Title + ' (' + r.Device.Id + ')') + ', IPv4 ' + ipv4Of(r.Device);
          loadStatus();
        }).catch(function (e) { lib.errorAt(regMsg, e); });
      } }, h('label', null, t('guifiDevice'), devSel), h('label', null, t('guifiDeviceName'), nick), h('label', null, t('guifiEmail'), email),
        h('label', null, t('guifiLinkDevice'), linkSel),
        checks.map(function (c) { return h('label', { className: 'check' }, c, c.value); }),
        h('button', { className: 'primary', type: 'submit', id: 'guifi-register', text: t('guifiRegister') }));
      steps.appendChild(title);
      steps.appendChild(h('h2', { text: t('guifiStepDevice') }));
      steps.appendChild(regForm);
      steps.appendChild(regMsg);
    }

    var unMsg = h('p', { className: 'row-msg', id: 'guifi-unregister-msg' });
    main.appendChild(h('section', { id: 'guifi-unregister' }, h('button', { type: 'button', id: 'guifi-unregister-btn', text: t('guifiUnregister'), onclick: function () {
      cmd(lib, 'guifi.unregister').then(function () { unMsg.className = 'row-msg ok'; unMsg.textContent = t('done'); loadStatus(); })
        .catch(function (e) { lib.errorAt(unMsg, e); });
    } }), unMsg));

    function row(k, v, id) { return h('tr', null, h('th', { text: k }), h('td', { text: v, id: id })); }
    function loadStatus() {
      cmd(lib, 'guifi.status').then(function (s) {
        clear(statusBody);
        statusBody.appendChild(row(t('guifiUser'), s.Username ? s.Username + (s.LoggedIn ? '' : ' (' + t('guifiLoggedOut') + ')') : '—', 'guifi-st-user'));
        statusBody.appendChild(row(t('guifiNode'), s.NodeId ? s.NodeName + ' (' + s.NodeId + ')' : '—', 'guifi-st-node'));
        statusBody.appendChild(row(t('guifiDevice'), s.Device ? s.Device.Title + ' (' + s.DeviceId + ')' : (s.DeviceId ? String(s.DeviceId) : '—'), 'guifi-st-device'));
        statusBody.appendChild(row('IPv4', s.Device ? ipv4Of(s.Device) || '—' : '—', 'guifi-st-ipv4'));
        statusBody.appendChild(row(t('guifiServices'), s.Device ? s.Device.Services.join(', ') || '—' : '—', 'guifi-st-services'));
        statusBody.appendChild(row(t('guifiRegistered'), s.Registered ? t('yes') : t('no'), 'guifi-st-registered'));
        if (s.CnmlError) statusBody.appendChild(row('CNML', s.CnmlError, 'guifi-st-error'));
        if (s.Username && !user.value) user.value = s.Username;
        if (s.NodeId && !nodeId.value) nodeId.value = String(s.NodeId);
      }).catch(function (e) { clear(statusBody).appendChild(h('tr', null, h('td', { className: 'error', text: e.message }))); });
    }
    loadStatus();
  }

  window.CLOUDY_GUIFI = { view: view, nodeSummary: nodeSummary };
})();
