/* The segment builder: a tree of AND/OR groups and condition rows beside the filter's text form.
 *
 * Editing the tree (debounced) posts the tree to the preview endpoint, which answers with the
 * canonical text (shown in the textarea), the count and the newest members. Editing the text
 * posts the text; the tree is rebuilt from the JSON tree that comes back. An error shows its
 * message under the textarea and a marker on the character at its position (the caret goes
 * there while the text is being typed); an error in a tree row marks that row.
 *
 * The page renders everything translated: the row templates (<template id="sb-...">), the field
 * picker with each field's kind (data-kind) and value list (data-list), the operator labels, and
 * the messages as data-msg-* attributes of #segment-builder. Vanilla ES2017, no libraries.
 *
 * The model: a group is {id, type: "group", op: "and"|"or", not, children}; a condition row is
 * {id, type: "cond", not, field, operator, value, value2, vtype, vtype2, vtypes}, where field
 * "@tag", "@segment" and "@text" (a condition typed as text: visits, events, deals...) are the
 * builder's own, and vtype* keep the value type the server gave until the value is edited.
 */
(function () {
  'use strict';

  var root = document.getElementById('segment-builder');
  if (!root) return;

  var form = root.closest('form');
  var textarea = document.getElementById('id_filter');
  var backdrop = document.getElementById('sb-backdrop');
  var errorBox = document.getElementById('sb-error');
  var treeBox = document.getElementById('sb-tree');
  var countEl = document.getElementById('sb-count');
  var statusEl = document.getElementById('sb-status');
  var membersEl = document.getElementById('sb-members');
  var membersTitle = document.getElementById('sb-members-title');
  var csrf = form.querySelector('input[name=csrfmiddlewaretoken]').value;
  var msg = root.dataset;

  var DEBOUNCE_MS = 300;
  var CMP = ['=', '!=', '>', '>=', '<', '<='];
  var TEXTUAL = ['=', '!=', '~', '!~', 'in', 'not in', 'exists', 'not exists'];
  var ORDERED = ['=', '!=', '>', '>=', '<', '<=', 'in', 'not in'];
  var OPERATORS = {
    text: TEXTUAL,
    ref: TEXTUAL,
    number: ['=', '!=', '>', '>=', '<', '<=', 'between', 'in', 'not in', 'exists', 'not exists'],
    date: ['=', '!=', '>', '>=', '<', '<=', 'between', 'within', 'older than', 'before', 'after', 'exists', 'not exists'],
    stage: ORDERED,
    band: ORDERED,
    bool: ['=', '!=', 'exists', 'not exists'],
    multi: ['=', '!=', 'in', 'not in', 'exists', 'not exists'],
    tag: ['has'],
    segment: ['segment'],
    typed: []
  };
  OPERATORS.datetime = OPERATORS.date;
  var WINDOWS = { within: 'within', older_than: 'older than', before: 'before', after: 'after' };
  var WINDOW_KEYS = { within: 'within', 'older than': 'older_than', before: 'before', after: 'after' };
  var PLACEHOLDERS = { number: '40', date: '2026-01-31', datetime: '2026-01-31', within: '30d', 'older than': '90d' };
  var RESERVED = ['and', 'or', 'not', 'in', 'true', 'false', 'null'];

  // --- the field picker (rendered by the page) --------------------------------------------------

  var fieldProto = document.getElementById('sb-field-template').content.querySelector('select');
  var operatorProto = document.getElementById('sb-operator-template').content.querySelector('select');
  var fields = {};       // name -> {kind, list}
  var fieldsLower = {};  // lower-cased name -> name
  Array.prototype.forEach.call(fieldProto.options, function (option) {
    if (!option.value) return;
    fields[option.value] = { kind: option.dataset.kind, list: option.dataset.list || '' };
    fieldsLower[option.value.toLowerCase()] = option.value;
  });
  var operatorLabels = {};
  Array.prototype.forEach.call(operatorProto.options, function (option) {
    operatorLabels[option.value] = option.textContent;
  });

  function kindOf(node) {
    var field = fields[node.field];
    return field ? field.kind : '';
  }

  // --- the model --------------------------------------------------------------------------------

  var nextId = 1;

  function makeGroup(op, children, not) {
    return { id: nextId++, type: 'group', op: op === 'or' ? 'or' : 'and', not: !!not, children: children || [] };
  }

  function makeCond(props) {
    return Object.assign(
      { id: nextId++, type: 'cond', not: false, field: '', operator: '', value: '', value2: '', vtype: null, vtype2: null, vtypes: null },
      props || {}
    );
  }

  var model = makeGroup('and', []);
  var nodes = {};    // id -> node
  var parents = {};  // id -> parent group

  function index() {
    nodes = {};
    parents = {};
    (function visit(node, parent) {
      nodes[node.id] = node;
      if (parent) parents[node.id] = parent;
      if (node.type === 'group') node.children.forEach(function (child) { visit(child, node); });
    })(model, null);
  }

  function needsValue(operator) {
    return operator !== 'exists' && operator !== 'not exists';
  }

  function isBare(text) {
    return /^[A-Za-z_][A-Za-z0-9_.\-]*$/.test(text) && RESERVED.indexOf(text.toLowerCase()) < 0;
  }

  function valueJson(kind, text, type) {
    if (type) return { type: type, value: text };
    if (kind === 'number') return { type: 'num', value: text };
    if (kind === 'date' || kind === 'datetime') {
      return { type: /^\d{4}-\d{2}-\d{2}$/.test(text) ? 'date' : 'datetime', value: text };
    }
    if (kind === 'bool') return { type: 'bool', value: text.toLowerCase() };
    return { type: isBare(text) ? 'bare' : 'str', value: text };
  }

  function splitList(text) {
    return text.split(',').map(function (part) { return part.trim(); }).filter(function (part) { return part !== ''; });
  }

  // A row that cannot be sent yet: no field, or no value where one is needed.
  function incomplete(node) {
    if (!node.field) return true;
    if (node.field === '@text') return !node.value.trim();
    if (!needsValue(node.operator)) return false;
    if (node.operator === 'between') return !node.value.trim() || !node.value2.trim();
    if (node.operator === 'in' || node.operator === 'not in') return splitList(node.value).length === 0;
    return !node.value.trim();
  }

  function leafJson(node) {
    var field = node.field;
    var op = node.operator;
    var value = node.value.trim();
    var kind = kindOf(node);
    if (field === '@text') return { op: 'text', text: value };
    if (field === '@tag') return { op: 'tag', name: value };
    if (field === '@segment') return { op: 'segment', name: value };
    if (CMP.indexOf(op) >= 0) return { op: 'cmp', field: field, cmp: op, value: valueJson(kind, value, node.vtype) };
    if (op === '~' || op === '!~') return { op: 'contains', field: field, value: value, negated: op === '!~' };
    if (op === 'in' || op === 'not in') {
      var parts = splitList(node.value);
      var types = node.vtypes && node.vtypes.length === parts.length ? node.vtypes : null;
      var values = parts.map(function (part, i) { return valueJson(kind, part, types ? types[i] : null); });
      return { op: 'in', field: field, values: values, negated: op === 'not in' };
    }
    if (op === 'between') {
      return {
        op: 'between', field: field,
        low: valueJson(kind, value, node.vtype), high: valueJson(kind, node.value2.trim(), node.vtype2)
      };
    }
    if (op === 'exists' || op === 'not exists') return { op: 'exists', field: field, negated: op === 'not exists' };
    var when = {};
    when[WINDOW_KEYS[op]] = value;
    return { op: 'date', field: field, when: when };
  }

  // The JSON tree of the model (null when nothing is complete), and which node each path is.
  function buildTree() {
    var origin = new Map();
    function build(node) {
      var json;
      if (node.type === 'group') {
        var children = node.children.map(build).filter(Boolean);
        if (children.length === 0) return null;
        json = children.length === 1 ? children[0] : { op: node.op, children: children };
        if (children.length > 1) origin.set(json, node);
      } else {
        if (incomplete(node)) return null;
        json = leafJson(node);
        origin.set(json, node);
      }
      if (node.not) {
        json = { op: 'not', child: json };
        origin.set(json, node);
      }
      return json;
    }
    var tree = build(model);
    var paths = {};
    (function walk(json, path) {
      if (!json) return;
      if (origin.has(json)) paths[path] = origin.get(json).id;
      if (json.op === 'and' || json.op === 'or') json.children.forEach(function (c, i) { walk(c, path + '.children[' + i + ']'); });
      else if (json.op === 'not') walk(json.child, path + '.child');
    })(tree, '$');
    return { tree: tree, paths: paths };
  }

  // The node a JSON path of the last tree sent points into (the longest known prefix).
  function nodeAtPath(paths, path) {
    var best = null;
    var bestLength = -1;
    Object.keys(paths).forEach(function (key) {
      var rest = path.slice(key.length);
      if (path.indexOf(key) === 0 && (rest === '' || rest[0] === '.' || rest[0] === '[') && key.length > bestLength) {
        best = paths[key];
        bestLength = key.length;
      }
    });
    return best;
  }

  // The model of a JSON tree from the server (each leaf carries its canonical "text").
  function fromJson(json) {
    if (json.op === 'and' || json.op === 'or') return makeGroup(json.op, json.children.map(fromJson));
    if (json.op === 'not') {
      var inner = fromJson(json.child);
      if (!inner.not) {
        inner.not = true;
        return inner;
      }
      return makeGroup('and', [inner], true);
    }
    return leafFromJson(json);
  }

  function leafFromJson(json) {
    var typed = makeCond({ field: '@text', value: json.text || '' });
    if (json.op === 'tag') return makeCond({ field: '@tag', operator: 'has', value: json.name });
    if (json.op === 'segment') return makeCond({ field: '@segment', operator: 'segment', value: json.name });
    var name = typeof json.field === 'string' ? fieldsLower[json.field.toLowerCase()] : null;
    if (!name || name.charAt(0) === '@') return typed;
    var allowed = OPERATORS[fields[name].kind] || [];
    var row = null;
    if (json.op === 'cmp' && json.value.type !== 'null') {
      row = makeCond({ field: name, operator: json.cmp, value: json.value.value, vtype: json.value.type });
    } else if (json.op === 'contains') {
      row = makeCond({ field: name, operator: json.negated ? '!~' : '~', value: json.value });
    } else if (json.op === 'in') {
      var clean = json.values.every(function (v) { return v.type !== 'null' && v.value.indexOf(',') < 0 && v.value.trim() === v.value && v.value !== ''; });
      if (clean) {
        row = makeCond({
          field: name, operator: json.negated ? 'not in' : 'in',
          value: json.values.map(function (v) { return v.value; }).join(', '),
          vtypes: json.values.map(function (v) { return v.type; })
        });
      }
    } else if (json.op === 'between') {
      row = makeCond({
        field: name, operator: 'between', value: json.low.value, value2: json.high.value,
        vtype: json.low.type, vtype2: json.high.type
      });
    } else if (json.op === 'exists') {
      row = makeCond({ field: name, operator: json.negated ? 'not exists' : 'exists' });
    } else if (json.op === 'date' && json.when) {
      var key = Object.keys(json.when)[0];
      if (WINDOWS[key]) row = makeCond({ field: name, operator: WINDOWS[key], value: json.when[key] });
    }
    return row && allowed.indexOf(row.operator) >= 0 ? row : typed;
  }

  function setModelFromJson(tree) {
    var built = tree ? fromJson(tree) : makeGroup('and', []);
    model = built.type === 'group' && !built.not ? built : makeGroup('and', [built]);
  }

  // --- rendering --------------------------------------------------------------------------------

  var rowError = null;  // {id, message}: the row the last error points at
  var showIncomplete = false;  // after a save was refused for rows without a value

  function clone(id) {
    return document.getElementById(id).content.firstElementChild.cloneNode(true);
  }

  function tagControls(element, node) {
    Array.prototype.forEach.call(element.querySelectorAll('[data-role]'), function (control) {
      if (!control.dataset.node) control.dataset.node = String(node.id);
    });
  }

  function renderGroup(node, isRoot) {
    var element = clone('sb-group-template');
    var head = element.querySelector('.sb-group-head');
    element.dataset.nodeId = String(node.id);
    element.classList.toggle('sb-root', isRoot);
    element.classList.toggle('sb-or', node.op === 'or');
    element.classList.toggle('sb-negated', node.not);
    element.setAttribute('aria-label', node.op === 'or' ? msg.msgGroupOr : msg.msgGroupAnd);
    head.querySelector('[data-role=not]').checked = node.not;
    head.querySelector('[data-role=op]').value = node.op;
    if (isRoot) head.querySelector('[data-role=remove]').remove();
    tagControls(head, node);
    var box = element.querySelector('[data-role=children]');
    node.children.forEach(function (child, i) {
      var item = child.type === 'group' ? renderGroup(child, false) : renderCond(child);
      if (i > 0) item.dataset.joiner = node.op === 'or' ? msg.msgOr : msg.msgAnd;
      box.appendChild(item);
    });
    var empty = element.querySelector(':scope > [data-role=empty]');
    empty.hidden = node.children.length > 0;
    empty.dataset.node = String(node.id);
    element.querySelector(':scope > [data-role=error]').dataset.node = String(node.id);
    markError(element, node);
    return element;
  }

  function renderCond(node) {
    var element = clone('sb-condition-template');
    element.dataset.nodeId = String(node.id);
    element.classList.toggle('sb-negated', node.not);
    element.querySelector('[data-role=not]').checked = node.not;

    var fieldSelect = element.querySelector('[data-role=field]');
    Array.prototype.forEach.call(fieldProto.children, function (child) { fieldSelect.appendChild(child.cloneNode(true)); });
    fieldSelect.value = node.field;

    var kind = kindOf(node);
    var operators = OPERATORS[kind] || [];
    if (operators.indexOf(node.operator) < 0) node.operator = operators.length ? operators[0] : '';
    var operatorSelect = element.querySelector('[data-role=operator]');
    operators.forEach(function (op) {
      var option = document.createElement('option');
      option.value = op;
      option.textContent = operatorLabels[op] || op;
      operatorSelect.appendChild(option);
    });
    operatorSelect.value = node.operator;
    operatorSelect.hidden = operators.length <= 1 && kind !== '';
    if (!node.field) operatorSelect.hidden = true;

    var value = element.querySelector('[data-role=value]');
    var value2 = element.querySelector('[data-role=value2]');
    var between = node.operator === 'between';
    value.value = node.value;
    value2.value = node.value2;
    value.hidden = !node.field || (kind !== 'typed' && !needsValue(node.operator));
    value2.hidden = !between;
    element.querySelector('[data-role=and]').hidden = !between;
    value.setAttribute('aria-label', kind === 'typed' ? msg.msgCondition : msg.msgValue);
    value2.setAttribute('aria-label', msg.msgValue2);
    var list = node.field && fields[node.field] ? fields[node.field].list : '';
    if (list && node.operator !== 'in' && node.operator !== 'not in') value.setAttribute('list', list);
    if (list) value2.setAttribute('list', list);
    var placeholder = kind === 'typed' ? msg.msgTyped : PLACEHOLDERS[node.operator] || PLACEHOLDERS[kind] || '';
    if (node.operator === 'in' || node.operator === 'not in') placeholder = kind === 'number' ? '1, 2, 3' : 'a, b, c';
    value.placeholder = placeholder;
    value2.placeholder = PLACEHOLDERS[kind] || '';
    element.classList.toggle('sb-typed', kind === 'typed');
    element.classList.toggle('sb-incomplete', showIncomplete && !!node.field && incomplete(node));
    tagControls(element, node);
    markError(element, node);
    return element;
  }

  function markError(element, node) {
    var box = element.querySelector(':scope > [data-role=error]');
    var wrong = rowError && rowError.id === node.id;
    element.classList.toggle('sb-invalid', !!wrong);
    box.hidden = !wrong;
    box.textContent = wrong ? rowError.message : '';
    if (wrong) box.setAttribute('role', 'alert');
    var own = element.classList.contains('sb-group') ? element.querySelector('.sb-group-head') : element;
    Array.prototype.forEach.call(own.querySelectorAll('input[type=text], select'), function (control) {
      if (wrong) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
    });
  }

  // Re-render the tree, keeping (or moving) the keyboard focus.
  function render(focus) {
    index();
    var active = document.activeElement;
    var keep = null;
    if (!focus && active && treeBox.contains(active) && active.dataset.node) {
      keep = { node: active.dataset.node, role: active.dataset.role };
      if (active.tagName === 'INPUT' && active.type === 'text') {
        keep.start = active.selectionStart;
        keep.end = active.selectionEnd;
      }
    }
    var tree = renderGroup(model, true);
    treeBox.textContent = '';
    treeBox.appendChild(tree);
    var target = focus || keep;
    if (!target) return;
    var element = treeBox.querySelector('[data-node="' + target.node + '"][data-role="' + target.role + '"]');
    if (!element || element.hidden) element = treeBox.querySelector('[data-node="' + target.node + '"]:not([hidden])');
    if (!element) return;
    element.focus();
    if (keep && keep.start != null && element.setSelectionRange) element.setSelectionRange(keep.start, keep.end);
  }

  // --- the text side: marker and caret ----------------------------------------------------------

  function autosize() {
    textarea.style.height = 'auto';
    textarea.style.height = textarea.scrollHeight + 2 + 'px';
  }

  function clearMarker() {
    backdrop.textContent = '';
  }

  function showMarker(position) {
    clearMarker();
    var text = textarea.value;
    if (typeof position !== 'number' || position < 0 || position > text.length) return;
    var mark = document.createElement('mark');
    mark.className = 'sb-mark';
    mark.dataset.testid = 'filter-error-mark';
    mark.dataset.position = String(position);
    var character = text.charAt(position);
    var after = text.slice(position + 1);
    if (character === '' || character === '\n') {
      mark.classList.add('sb-mark-end');
      if (character === '\n') after = '\n' + after;
      character = ' ';
    }
    mark.textContent = character;
    backdrop.appendChild(document.createTextNode(text.slice(0, position)));
    backdrop.appendChild(mark);
    backdrop.appendChild(document.createTextNode(after + '\n'));
    backdrop.scrollTop = textarea.scrollTop;
  }

  function placeCaret(position) {
    var at = Math.max(0, Math.min(position, textarea.value.length));
    textarea.focus();
    textarea.setSelectionRange(at, at);
  }

  // --- preview requests -------------------------------------------------------------------------

  var timer = null;
  var pendingSource = null;
  var sequence = 0;
  var inflight = null;
  var lastPaths = {};
  var lastError = null;       // {source, message, position, path}
  var keepServerError = errorBox.textContent.trim() !== '';

  function setError(error, source) {
    lastError = error ? Object.assign({ source: source }, error) : null;
    var textError = error && !error.path && !error.in_condition;
    errorBox.textContent = error ? (error.path && !textError ? msg.msgRowError + ' ' + error.message : error.message) : '';
    if (error && typeof error.position === 'number' && !error.in_condition) showMarker(error.position);
    else clearMarker();
    if (textError) textarea.setAttribute('aria-invalid', 'true');
    else textarea.removeAttribute('aria-invalid');
    errorBox.closest('.field').classList.toggle('has-error', !!error);
  }

  function showPreview(data) {
    countEl.textContent = typeof data.count === 'number' ? String(data.count) : '—';
    membersTitle.hidden = !(data.members && data.members.length);
    membersEl.textContent = '';
    (data.members || []).forEach(function (member) {
      var item = document.createElement('li');
      var link = document.createElement('a');
      link.href = member.url;
      link.textContent = member.name;
      item.appendChild(link);
      if (member.email) {
        var email = document.createElement('span');
        email.className = 'muted';
        email.textContent = ' ' + member.email;
        item.appendChild(email);
      }
      item.dataset.contactId = String(member.id);
      membersEl.appendChild(item);
    });
  }

  function apply(source, sent, data) {
    statusEl.textContent = '';
    root.classList.remove('sb-busy');
    var error = data.error;
    if (error) {
      countEl.classList.add('sb-stale');
      rowError = null;
      if (source === 'tree') {
        if (typeof data.text === 'string' && data.text) {
          textarea.value = data.text;
          autosize();
        }
        if (error.path) {
          var id = nodeAtPath(sent.paths, error.path);
          if (id != null) rowError = { id: id, message: error.message };
        }
        render();
      }
      if (!keepServerError) setError(error, source);
      if (source === 'text' && typeof error.position === 'number' && document.activeElement === textarea) {
        placeCaret(error.position);
      }
      return;
    }
    countEl.classList.remove('sb-stale');
    if (!keepServerError) setError(null, source);
    showPreview(data);
    if (source === 'tree') {
      textarea.value = data.text;
      autosize();
      if (rowError) {
        rowError = null;
        render();
      }
    } else {
      rowError = null;
      setModelFromJson(data.tree);
      render();
    }
  }

  function run() {
    timer = null;
    var source = pendingSource;
    var sent = source === 'tree' ? buildTree() : { paths: {} };
    var body = source === 'tree' ? { tree: sent.tree } : { text: textarea.value };
    // Editing a saved segment: the server checks the new filter against the segments using it.
    if (root.dataset.segmentId) body.segment = Number(root.dataset.segmentId);
    lastPaths = sent.paths;
    var mine = ++sequence;
    statusEl.textContent = msg.msgUpdating;
    root.classList.add('sb-busy');
    var request = fetch(root.dataset.previewUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': csrf },
      body: JSON.stringify(body)
    })
      .then(function (response) {
        return response.json().catch(function () { return { error: { message: msg.msgNetwork } }; });
      })
      .then(function (data) {
        if (mine === sequence) apply(source, sent, data);
      })
      .catch(function () {
        if (mine !== sequence) return;
        statusEl.textContent = '';
        root.classList.remove('sb-busy');
        setError({ message: msg.msgNetwork }, source);
      })
      .then(function () {
        if (inflight === request) inflight = null;
      });
    inflight = request;
    return request;
  }

  function schedule(source, now) {
    pendingSource = source;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(run, now ? 0 : DEBOUNCE_MS);
  }

  function flush() {
    if (timer !== null) {
      clearTimeout(timer);
      return run();
    }
    return inflight || Promise.resolve();
  }

  function treeChanged(focus) {
    keepServerError = false;
    render(focus);
    schedule('tree');
  }

  // --- events -----------------------------------------------------------------------------------

  function nodeOf(element) {
    return element && element.dataset.node ? nodes[element.dataset.node] : null;
  }

  function addTo(group, child) {
    group.children.push(child);
    return child;
  }

  treeBox.addEventListener('click', function (event) {
    var button = event.target.closest('button[data-role]');
    if (!button) return;
    var node = nodeOf(button);
    if (!node) return;
    var role = button.dataset.role;
    if (role === 'add-cond') {
      var row = addTo(node, makeCond());
      treeChanged({ node: String(row.id), role: 'field' });
    } else if (role === 'add-group') {
      var group = addTo(node, makeGroup(node.op === 'and' ? 'or' : 'and', []));
      var first = addTo(group, makeCond());
      treeChanged({ node: String(first.id), role: 'field' });
    } else if (role === 'remove') {
      var parent = parents[node.id];
      if (!parent) return;
      parent.children.splice(parent.children.indexOf(node), 1);
      if (rowError && rowError.id === node.id) rowError = null;
      treeChanged({ node: String(parent.id), role: 'add-cond' });
    }
  });

  treeBox.addEventListener('change', function (event) {
    var control = event.target;
    var node = nodeOf(control);
    if (!node) return;
    var role = control.dataset.role;
    if (role === 'not') {
      node.not = control.checked;
    } else if (role === 'op') {
      node.op = control.value;
    } else if (role === 'field') {
      var before = kindOf(node);
      node.field = control.value;
      node.vtype = node.vtype2 = node.vtypes = null;
      if (kindOf(node) !== before) {
        node.operator = '';
        if (node.field === '@text' || before === 'typed') node.value = node.value2 = '';
      }
    } else if (role === 'operator') {
      node.operator = control.value;
    } else {
      return;  // values: handled on input
    }
    treeChanged({ node: String(node.id), role: role });
  });

  treeBox.addEventListener('input', function (event) {
    var control = event.target;
    var node = nodeOf(control);
    if (!node || (control.dataset.role !== 'value' && control.dataset.role !== 'value2')) return;
    if (control.dataset.role === 'value') {
      node.value = control.value;
      node.vtype = null;
      node.vtypes = null;
    } else {
      node.value2 = control.value;
      node.vtype2 = null;
    }
    keepServerError = false;
    var row = control.closest('.sb-cond');
    row.classList.remove('sb-incomplete');
    schedule('tree');
  });

  textarea.addEventListener('input', function () {
    keepServerError = false;
    clearMarker();
    autosize();
    if (rowError) {
      rowError = null;
      render();
    }
    schedule('text');
  });

  textarea.addEventListener('scroll', function () {
    backdrop.scrollTop = textarea.scrollTop;
  });

  // Clicking the error message takes the caret to the position it names.
  errorBox.addEventListener('click', function () {
    if (lastError && typeof lastError.position === 'number' && !lastError.in_condition) placeCaret(lastError.position);
  });

  form.addEventListener('submit', function (event) {
    var waiting = [];
    index();
    Object.keys(nodes).forEach(function (id) {
      var node = nodes[id];
      if (node.type === 'cond' && incomplete(node)) waiting.push(node);
    });
    var half = waiting.filter(function (node) { return !!node.field; });
    if (half.length) {
      event.preventDefault();
      showIncomplete = true;
      render({ node: String(half[0].id), role: 'value' });
      setError({ message: msg.msgIncomplete }, 'tree');
      return;
    }
    if (timer !== null || inflight) {
      event.preventDefault();
      flush().then(function () {
        if (lastError && lastError.source === 'tree') return;
        form.submit();
      });
      return;
    }
    if (lastError && lastError.source === 'tree') {
      event.preventDefault();
      errorBox.textContent = msg.msgTreeError + ' ' + lastError.message;
    }
  });

  // --- start ------------------------------------------------------------------------------------

  document.getElementById('sb-tree-card').hidden = false;
  root.classList.add('sb-ready');
  autosize();
  var serverPosition = errorBox.dataset.position;
  if (serverPosition !== undefined && serverPosition !== '') showMarker(parseInt(serverPosition, 10));
  render();
  if (textarea.value.trim()) schedule('text', true);
})();
