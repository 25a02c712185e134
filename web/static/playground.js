// The playground page: turns the form into a run request, streams the run's NDJSON
// events into the results grid, and handles cancel, downloads and share links.
//
// Layout of this file: helpers, the params form (from a plugin's JSON Schema), the
// results grid, rendering of the run's query/stats/logs, then the run itself and the
// page wiring at the bottom.

import { createEditor } from '/static/editor.js';
import { Grid, formatCell } from '/static/grid.js';

const $ = (id) => document.getElementById(id);

/** The page's elements, looked up once. */
const els = {
  source: $('source'),
  plugin: $('plugin'),
  pluginInfo: $('plugin-info'),
  pluginKind: $('plugin-kind'),
  pluginDescription: $('plugin-description'),
  pluginLink: $('plugin-link'),
  scriptArea: $('script-area'),
  script: $('script'),
  scriptErrorLine: $('script-error-line'),
  starter: $('starter'),
  paramsArea: $('params-area'),
  paramsForm: $('params-form'),
  query: $('query'),
  queryNote: $('query-note'),
  preview: $('preview'),
  limit: $('limit'),
  run: $('run'),
  cancel: $('cancel'),
  share: $('share'),
  shareLine: $('share-line'),
  shareUrl: $('share-url'),
  shareNote: $('share-note'),
  error: $('error'),
  rowCount: $('row-count'),
  truncated: $('truncated'),
  rowCounter: $('row-counter'),
  resultPanes: $('result-panes'),
  previewPane: $('preview-pane'),
  generatedQuery: $('generated-query'),
  stats: $('stats'),
  logs: $('logs'),
};

/** Example query per backend, shown as the editor's placeholder. */
const SQL_EXAMPLE = 'SELECT * FROM flights LIMIT 100';
const QUERY_EXAMPLES = {
  sqlite: SQL_EXAMPLE,
  postgres: SQL_EXAMPLE,
  cockroach: SQL_EXAMPLE,
  scylla: SQL_EXAMPLE,
  mongo: '{"collection": "flights", "filter": {"origin": "JFK"}, "limit": 100}',
};


// ---------------------------------------------------------------------------
// Helpers

/** Creates an element with an optional class and text. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** "1 row", "353 rows". */
function rowsText(n) {
  return n === 1 ? '1 row' : `${n.toLocaleString()} rows`;
}

/** Reads the error envelope of a non-2xx response, or makes one from its status. */
async function responseError(response) {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    if (isObject(body) && isObject(body.error)) return body.error;
  } catch {
    // Not JSON: fall through to the status line.
  }
  return {
    kind: `HTTP ${response.status}`,
    message: text.trim().slice(0, 500) || response.statusText || 'request failed',
  };
}

function postJson(url, body, signal) {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
}

// ---------------------------------------------------------------------------
// Params form

/**
 * How the form shows one schema property: 'string', 'integer', 'number', 'boolean',
 * 'enum' or 'list' (array of strings, comma separated); null when it cannot.
 */
function fieldKind(prop) {
  if (!isObject(prop)) return null;
  if (Array.isArray(prop.enum) && prop.enum.length > 0) return 'enum';
  // ["string", "null"] means an optional string; the form leaves it out when empty.
  const type = Array.isArray(prop.type) ? prop.type.find((t) => t !== 'null') : prop.type;
  switch (type) {
    case undefined:
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
    case 'boolean':
      return type;
    case 'array': {
      const items = prop.items;
      const stringItems = items === undefined || (isObject(items) && (items.type ?? 'string') === 'string');
      return stringItems ? 'list' : null;
    }
    default:
      return null;
  }
}

/** Whether every param has a field of its type (enum values match by their JSON text). */
function fitsFields(fields, params) {
  const byName = new Map(fields.map((field) => [field.name, field]));
  return Object.entries(params).every(([name, value]) => {
    const field = byName.get(name);
    switch (field?.kind) {
      case undefined:
        return false;
      case 'enum':
        return field.prop.enum.some((option) => JSON.stringify(option) === JSON.stringify(value));
      case 'list':
        return (
          Array.isArray(value) &&
          value.every((item) => typeof item === 'string' && item !== '' && item === item.trim() && !item.includes(','))
        );
      case 'integer':
        return Number.isSafeInteger(value);
      case 'string':
        // An empty field means "not set".
        return typeof value === 'string' && value !== '';
      default:
        return typeof value === field.kind;
    }
  });
}

/** Tests `text` against a JSON Schema pattern; an unusable pattern lets everything pass. */
function matchesPattern(pattern, text) {
  try {
    return new RegExp(pattern, 'u').test(text);
  } catch {
    return true;
  }
}

/** The first error of a string against minLength, maxLength and pattern, if any. */
function stringError(prop, text) {
  const length = [...text].length;
  if (typeof prop.minLength === 'number' && length < prop.minLength) {
    return `must be at least ${prop.minLength} characters`;
  }
  if (typeof prop.maxLength === 'number' && length > prop.maxLength) {
    return `must be at most ${prop.maxLength} characters`;
  }
  if (typeof prop.pattern === 'string' && !matchesPattern(prop.pattern, text)) {
    // Said with an example (or the field's own words), not the regular expression.
    const example = Array.isArray(prop.examples) ? prop.examples[0] : prop.default;
    if (typeof example === 'string') return `should look like ${example}`;
    const form = /\(([^)]*[A-Z]{2,}[^)]*)\)/.exec(prop.description ?? '');
    return form ? `should be in the form ${form[1]}` : 'is not in the form this field takes';
  }
  return null;
}

/** The first error of a number against the schema's range, if any. */
function rangeError(prop, n) {
  if (typeof prop.minimum === 'number' && n < prop.minimum) return `must be at least ${prop.minimum}`;
  if (typeof prop.maximum === 'number' && n > prop.maximum) return `must be at most ${prop.maximum}`;
  if (typeof prop.exclusiveMinimum === 'number' && n <= prop.exclusiveMinimum) {
    return `must be more than ${prop.exclusiveMinimum}`;
  }
  if (typeof prop.exclusiveMaximum === 'number' && n >= prop.exclusiveMaximum) {
    return `must be less than ${prop.exclusiveMaximum}`;
  }
  return null;
}

/**
 * A form with one field per property of an object schema. `collect()` validates every
 * field and returns the params object, or null (with the messages shown) when invalid.
 */
class SchemaForm {
  /** Builds the form, or returns null when the schema (or the given params) does not fit one. */
  static create(container, schema, params) {
    if (!isObject(schema) || !isObject(schema.properties)) return null;
    if (schema.type !== undefined && schema.type !== 'object') return null;
    const entries = Object.entries(schema.properties);
    if (entries.length === 0) return null;
    const fields = [];
    for (const [name, prop] of entries) {
      const kind = fieldKind(prop);
      if (!kind) return null;
      fields.push({ name, prop, kind });
    }
    // Params the form cannot hold would be lost or changed: show them as JSON instead.
    if (params && !fitsFields(fields, params)) return null;
    const required = new Set(Array.isArray(schema.required) ? schema.required : []);
    return new SchemaForm(container, fields, required, params);
  }

  constructor(container, fields, required, params) {
    this.fields = fields;
    for (const field of fields) {
      field.required = required.has(field.name);
      container.append(this.render(field));
      // A fresh form starts from the defaults; a snippet's params are used as they are.
      const start = params ? params[field.name] : field.prop.default;
      if (start !== undefined) this.write(field, start);
      // A checkbox cannot look unset: until it is clicked, one that started without a
      // value is left out of the params, so the plugin's own default applies.
      field.unset = start === undefined && !field.required;
      field.input.addEventListener('change', () => {
        field.unset = false;
      });
      const validate = () => this.validate(field);
      field.input.addEventListener('input', validate);
      field.input.addEventListener('change', validate);
    }
    if (params) this.fields.forEach((field) => this.validate(field));
  }

  /** The label, control, error slot and help text of one field. */
  render(field) {
    const { name, prop, kind } = field;
    const id = `param-${name}`;
    const wrapper = el('div', `field field-${kind}`);

    const label = el('label', null, name);
    label.htmlFor = id;
    if (field.required) {
      const mark = el('span', 'required-mark', '*');
      mark.title = 'required';
      label.append(mark);
    }

    let input;
    if (kind === 'enum') {
      input = el('select');
      if (!field.required || prop.default === undefined) {
        input.append(new Option(field.required ? '(choose)' : '(not set)', ''));
      }
      prop.enum.forEach((value, index) => {
        input.append(new Option(typeof value === 'string' ? value : JSON.stringify(value), String(index)));
      });
    } else {
      input = el('input');
      input.type = { boolean: 'checkbox', integer: 'number', number: 'number' }[kind] ?? 'text';
      if (kind === 'integer') input.step = '1';
      if (kind === 'number') input.step = 'any';
      if (input.type === 'text') {
        input.autocomplete = 'off';
        input.spellcheck = false;
        if (kind === 'list') input.placeholder = 'comma, separated, values';
      }
      // Left empty, an optional field is not sent and the plugin uses its default.
      const example = prop.default ?? (Array.isArray(prop.examples) ? prop.examples[0] : undefined);
      if (example !== undefined && input.tagName === 'INPUT' && input.type !== 'checkbox') {
        input.placeholder = Array.isArray(example) ? example.join(', ') : String(example);
      }
    }
    input.id = id;
    input.name = name;
    field.input = input;

    field.error = el('span', 'field-error');
    field.error.id = `${id}-error`;
    field.error.setAttribute('aria-live', 'polite');
    const describedBy = [field.error.id];

    const control = el('div', 'field-control');
    control.append(input, field.error);
    if (kind === 'boolean') {
      // A checkbox reads best with its name beside it.
      wrapper.append(control);
      control.insertBefore(label, field.error);
    } else {
      wrapper.append(label, control);
    }
    if (typeof prop.description === 'string' && prop.description !== '') {
      const help = el('small', 'help', prop.description);
      help.id = `${id}-help`;
      describedBy.push(help.id);
      wrapper.append(help);
    }
    input.setAttribute('aria-describedby', describedBy.join(' '));
    return wrapper;
  }

  /** Puts a value (a default, or a snippet's param) into a field. */
  write(field, value) {
    const { input, kind, prop } = field;
    switch (kind) {
      case 'boolean':
        input.checked = value === true;
        break;
      case 'enum': {
        const index = prop.enum.findIndex((option) => JSON.stringify(option) === JSON.stringify(value));
        input.value = index < 0 ? '' : String(index);
        break;
      }
      case 'list':
        input.value = Array.isArray(value) ? value.join(', ') : String(value);
        break;
      default:
        input.value = typeof value === 'string' ? value : JSON.stringify(value);
    }
  }

  /** Reads a field: `{value}` when set, `{}` when left empty, `{error}` when invalid. */
  read(field) {
    const { input, kind, prop } = field;
    switch (kind) {
      case 'boolean':
        return field.unset ? {} : { value: input.checked };
      case 'enum':
        return input.value === '' ? {} : { value: prop.enum[Number(input.value)] };
      case 'integer':
      case 'number': {
        const whole = kind === 'integer';
        const typeError = { error: whole ? 'must be a whole number' : 'must be a number' };
        if (input.validity.badInput) return typeError;
        const text = input.value.trim();
        if (text === '') return {};
        const n = Number(text);
        if (!Number.isFinite(n) || (whole && !Number.isInteger(n))) return typeError;
        if (whole && !Number.isSafeInteger(n)) return { error: 'is too large to send exactly' };
        const error = rangeError(prop, n);
        return error ? { error } : { value: n };
      }
      case 'list': {
        const items = input.value.split(',').map((item) => item.trim()).filter((item) => item !== '');
        if (items.length === 0) return {};
        const itemSchema = isObject(prop.items) ? prop.items : {};
        for (const item of items) {
          const error = stringError(itemSchema, item);
          if (error) return { error: `"${item}" ${error}` };
        }
        if (typeof prop.minItems === 'number' && items.length < prop.minItems) {
          return { error: `needs at least ${prop.minItems} values` };
        }
        if (typeof prop.maxItems === 'number' && items.length > prop.maxItems) {
          return { error: `takes at most ${prop.maxItems} values` };
        }
        return { value: items };
      }
      default: {
        if (input.value === '') return {};
        const error = stringError(prop, input.value);
        return error ? { error } : { value: input.value };
      }
    }
  }

  /** Shows the field's message; returns what `read` did, or null when invalid. */
  validate(field) {
    const result = this.read(field);
    let error = result.error ?? null;
    if (!error && !('value' in result) && field.required) error = 'required';
    field.error.textContent = error ?? '';
    field.input.setAttribute('aria-invalid', String(error !== null));
    return error ? null : result;
  }

  /** The values filled in so far, without messages: what a reload brings back. */
  peek() {
    const params = {};
    for (const field of this.fields) {
      const result = this.read(field);
      if ('value' in result) params[field.name] = result.value;
    }
    return params;
  }

  collect() {
    const params = {};
    let firstInvalid = null;
    for (const field of this.fields) {
      const result = this.validate(field);
      if (!result) firstInvalid ??= field.input;
      else if ('value' in result) params[field.name] = result.value;
    }
    if (firstInvalid) {
      firstInvalid.focus();
      return null;
    }
    return params;
  }
}

/** A JSON object typed by hand (a JSON editor), for plugins whose params schema the form cannot show. */
class JsonParamsForm {
  constructor(container, params, helpText = "This plugin's params have no form here: write them as a JSON object.") {
    const label = el('span', 'editor-label', 'JSON object');
    label.id = 'params-json-label';
    const host = el('div', 'code-editor params-editor');
    host.id = 'params-json';
    host.setAttribute('role', 'group');
    host.setAttribute('aria-labelledby', label.id);
    this.error = el('span', 'field-error');
    this.error.id = 'params-json-error';
    this.error.setAttribute('aria-live', 'polite');
    const help = el('small', 'help', helpText);
    help.id = 'params-json-help';
    host.setAttribute('aria-describedby', `${this.error.id} ${help.id}`);
    const wrapper = el('div', 'field field-json');
    wrapper.append(label, host, this.error, help);
    container.append(wrapper);
    this.editor = createEditor(host, {
      doc: JSON.stringify(params ?? {}, null, 2),
      language: 'json',
      label: 'Params, a JSON object',
      lines: false,
      nonce: styleNonce,
      onRun: () => run(),
      onExplain: () => explain(),
      onChange: () => this.read(),
    });
    // The page's scripting handle (`window.quarry.editors.params`) follows the form shown.
    editors.params = this.editor;
    if (params) this.read();
  }

  /** The params object, or null with the message shown. */
  read() {
    let value;
    let error = null;
    try {
      value = JSON.parse(this.editor.value);
      if (!isObject(value)) error = 'must be a JSON object, like {"name": "value"}';
    } catch (e) {
      error = `not valid JSON: ${e.message}`;
    }
    this.error.textContent = error ?? '';
    this.editor.view.contentDOM.setAttribute('aria-invalid', String(error !== null));
    return error ? null : value;
  }

  /** The object typed so far, without messages; null when it is not one yet. */
  peek() {
    try {
      const value = JSON.parse(this.editor.value);
      return isObject(value) ? value : null;
    } catch {
      return null;
    }
  }

  collect() {
    const params = this.read();
    if (!params) this.editor.focus();
    return params;
  }
}

// ---------------------------------------------------------------------------
// Results grid

const grid = new Grid($('grid'), { label: 'Output rows' });
const previewGrid = new Grid($('preview-grid'), { label: 'Input rows (first batch)' });

// ---------------------------------------------------------------------------
// The run's query, stats and logs

/** Re-indents JSON text without parsing its values, so numbers and key order stay exact. */
function prettyJson(text) {
  if (typeof text !== 'string') return JSON.stringify(text, null, 2);
  try {
    JSON.parse(text);
  } catch {
    return text;
  }
  const closing = { '{': '}', '[': ']' };
  let out = '';
  let depth = 0;
  const newline = () => `\n${'  '.repeat(depth)}`;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      // Copy the whole string literal, escapes included.
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === '{' || c === '[') {
      let next = i + 1;
      while (/\s/.test(text[next])) next++;
      if (text[next] === closing[c]) {
        out += c + closing[c];
        i = next;
      } else {
        depth++;
        out += c + newline();
      }
    } else if (c === '}' || c === ']') {
      depth--;
      out += newline() + c;
    } else if (c === ',') {
      out += `,${newline()}`;
    } else if (c === ':') {
      out += ': ';
    } else if (!/\s/.test(c)) {
      out += c;
    }
  }
  return out;
}

/** The query that ran, as text: SQL/CQL with its bound params, or MongoDB's parts. */
function describeQuery(query) {
  switch (query.kind) {
    case 'sql':
    case 'cql': {
      const lines = [query.text];
      if (Array.isArray(query.params) && query.params.length > 0) {
        lines.push('', 'params:');
        query.params.forEach((value, i) => lines.push(`  ${i + 1}: ${JSON.stringify(value)}`));
      }
      return lines.join('\n');
    }
    case 'mongo_find': {
      const lines = [`collection: ${query.collection}`, `filter: ${prettyJson(query.filter)}`];
      if (query.projection != null) lines.push(`projection: ${prettyJson(query.projection)}`);
      if (query.sort != null) lines.push(`sort: ${prettyJson(query.sort)}`);
      if (query.skip != null) lines.push(`skip: ${query.skip}`);
      if (query.limit != null) lines.push(`limit: ${query.limit}`);
      return lines.join('\n');
    }
    case 'mongo_aggregate':
      return `collection: ${query.collection}\npipeline: ${prettyJson(query.pipeline)}`;
    default:
      return JSON.stringify(query, null, 2);
  }
}

/** A duration; a dash for one not measured (0: no plugin, or cancelled before it). */
function formatMs(value, measured = value > 0) {
  return typeof value === 'number' && measured ? `${value.toFixed(1)} ms` : '—';
}

function formatCount(value) {
  return typeof value === 'number' || typeof value === 'string' ? String(value) : '—';
}

/** The stats table's rows: label, and how to show the figure. */
const STAT_ROWS = [
  ['Compile/load', (s) => (s.load_from_cache ? `${formatMs(s.load_ms, true)} (from cache)` : formatMs(s.load_ms))],
  ['Instantiate', (s) => formatMs(s.instantiate_ms)],
  ['Query', (s) => formatMs(s.query_ms)],
  ['Transform', (s) => formatMs(s.transform_ms)],
  ['Total', (s) => formatMs(s.total_ms)],
  ['Rows in', (s) => formatCount(s.rows_in)],
  ['Rows out', (s) => formatCount(s.rows_out)],
];

/** Fills the stats table; dashes when there are no figures yet. */
function renderStats(stats) {
  const body = els.stats.tBodies[0];
  body.replaceChildren(
    ...STAT_ROWS.map(([label, show]) => {
      const tr = document.createElement('tr');
      const th = el('th', null, label);
      th.scope = 'row';
      tr.append(th, el('td', 'num', stats ? show(stats) : '—'));
      return tr;
    }),
  );
}

function renderLogs(logs) {
  const items = (Array.isArray(logs) ? logs : []).map((line) => {
    const level = /^[a-z]+$/.test(line.level) ? line.level : 'info';
    const li = el('li', `log-${level}`);
    li.append(el('span', 'log-level', level), ' ', el('span', 'log-message', line.message));
    return li;
  });
  els.logs.replaceChildren(...items);
}

function showProgress(rowsIn, rowsOut) {
  els.rowCounter.textContent = `${rowsIn.toLocaleString()} rows read, ${rowsOut.toLocaleString()} rows out`;
}

/** Shows an error envelope `{kind, message, row?}` in the error box. */
function showError(error) {
  const kind = error?.kind ?? 'error';
  els.error.dataset.kind = kind;
  els.error.replaceChildren(
    el('strong', 'error-kind', kind),
    ' ',
    el('span', 'error-message', error?.message ?? 'unknown error'),
  );
  if (typeof error?.row === 'number') {
    els.error.append(' ', el('span', 'error-row', `(row ${error.row} of the batch)`));
  }
  els.error.hidden = false;
  const at = scriptMode() ? scriptLocation(error?.message) : null;
  if (at) showScriptError(at, error.message);
  const inQuery = !at && queryLocation(error?.message, editors.query.value);
  if (inQuery) editors.query.markError(inQuery.line, inQuery.column, error.message);
}

/**
 * Where a database's error points in the query: the word it names (`near "FORM"`,
 * `no such column: x`, `column "x" does not exist`, `Undefined column name x`), found in
 * the text; null when it names none.
 */
function queryLocation(message, query) {
  const named =
    /near "([^"]+)"/.exec(message ?? '') ??
    /no such (?:column|table|function): ([\w.$]+)/.exec(message ?? '') ??
    /(?:column|relation|function) "([^"]+)" does not exist/.exec(message ?? '') ??
    /[Uu]ndefined (?:column )?name ([\w.$]+)/.exec(message ?? '');
  if (!named) return null;
  let at = query.indexOf(named[1]);
  if (at < 0) at = query.toLowerCase().indexOf(named[1].toLowerCase());
  if (at < 0) return null;
  const before = query.slice(0, at).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

/** Shows the run as cancelled when the stream was cut before the server said so. */
function showCancelled() {
  els.error.dataset.kind = 'cancelled';
  els.error.replaceChildren(el('span', 'error-message', 'Cancelled.'));
  els.error.hidden = false;
}

/** Empties everything a previous run showed. */
function clearResults() {
  grid.clear();
  previewGrid.clear();
  els.previewPane.hidden = true;
  els.resultPanes.classList.remove('with-preview');
  els.error.hidden = true;
  els.error.replaceChildren();
  els.rowCount.textContent = '';
  $('empty-result').hidden = true;
  $('plan-panel').hidden = true;
  $('steps-pane').hidden = true;
  $('step-previews').replaceChildren();
  els.truncated.hidden = true;
  els.generatedQuery.textContent = '';
  renderStats(null);
  renderLogs([]);
  clearScriptError();
  editors.query.clearError();
}

// ---------------------------------------------------------------------------
// Plugin choice and the request

/** The initial state the server put in the page. */
function readInitialState() {
  const empty = {
    sources: [],
    plugins: [],
    selected_plugin: null,
    snippet: null,
    snippet_problem: null,
    scripts: false,
    starter_scripts: [],
  };
  try {
    return { ...empty, ...JSON.parse($('initial-state').textContent) };
  } catch (e) {
    showError({ kind: 'page', message: `the page's initial state is not valid JSON: ${e.message}` });
    return empty;
  }
}

const initial = readInitialState();
const pluginsBySha = new Map(initial.plugins.map((plugin) => [plugin.sha256, plugin]));
const backendsBySource = new Map(initial.sources.map((source) => [source.name, source.backend]));

/** The params form of the selected plugin; null without a plugin. */
let paramsForm = null;

/** The page's style nonce, which the editors' styles need. */
const styleNonce = document.querySelector('meta[name="style-nonce"]')?.content;

/** The query and script editors (CodeMirror), also on `window.quarry` for scripting. */
const editors = {
  query: createEditor(els.query, {
    label: 'Query',
    language: 'sqlite',
    nonce: styleNonce,
    onRun: () => run(),
    onExplain: () => explain(),
  }),
  script: createEditor(els.script, {
    label: 'Script',
    language: 'javascript',
    nonce: styleNonce,
    onRun: () => run(),
    onChange: () => clearScriptError(),
  }),
};
window.quarry = { editors, grid, chartText: () => chartModule?.svgText($('chart').firstElementChild) };

/** Each source's schema answer (`GET /api/sources/{name}/schema`), once fetched. */
const schemaAnswers = new Map();

function schemaAnswer(source) {
  if (!schemaAnswers.has(source)) {
    schemaAnswers.set(
      source,
      fetch(`/api/sources/${encodeURIComponent(source)}/schema`)
        .then((response) => (response.ok ? response.json() : { tables: [] }))
        .catch(() => ({ tables: [] })),
    );
  }
  return schemaAnswers.get(source);
}

/** A name as the query's language writes it: quoted when it is not a plain word. */
function quotedName(name, backend) {
  if (backend === 'mongo' || /^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) return name;
  return `"${name.replaceAll('"', '""')}"`;
}

/** The side panel of the source's tables and columns; a click puts a name in the query. */
function showSchema(answer, backend) {
  const tree = $('schema-tree');
  const insert = (name) => () => editors.query.insert(quotedName(name, backend));
  const items = answer.tables.map((table) => {
    // The name inserts it; the details beside it open its columns (a button inside a
    // summary would be a control within a control).
    const name = el('button', 'link-button schema-name', table.name);
    name.type = 'button';
    name.title = `Put ${table.name} in the query`;
    name.addEventListener('click', insert(table.name));
    const details = el('details', 'schema-table');
    const what = table.kind === 'collection' ? 'fields' : 'columns';
    const kind = table.kind === 'view' ? ' (view)' : '';
    const summary = el('summary', 'muted', `${table.columns.length} ${what}${kind}`);
    const columns = el('ul', 'schema-columns');
    for (const column of table.columns) {
      const li = el('li');
      const button = el('button', 'link-button schema-name', column.name);
      button.type = 'button';
      button.title = `Put ${column.name} in the query`;
      button.addEventListener('click', insert(column.name));
      li.append(button, ' ', el('span', 'col-type', column.type || 'any'));
      if (column.key) li.append(' ', el('span', 'badge', column.key));
      columns.append(li);
    }
    details.append(summary, columns);
    if (table.sampled !== undefined) {
      details.append(el('p', 'muted', `fields of ${table.sampled} sampled documents`));
    }
    const li = el('li');
    li.append(name, details);
    return li;
  });
  tree.replaceChildren(...items);
  $('schema-panel').querySelector('summary').textContent =
    backend === 'mongo' ? `Collections (${items.length})` : `Tables (${items.length})`;
}

/** The query editor's language, example and completions, and the schema panel, follow the source. */
async function showQueryExample() {
  const source = els.source.value;
  const backend = backendsBySource.get(source);
  editors.query.setPlaceholder(QUERY_EXAMPLES[backend] ?? SQL_EXAMPLE);
  editors.query.setLanguage(backend);
  const answer = await schemaAnswer(source);
  if (els.source.value !== source) return;
  const schema = Object.fromEntries(answer.tables.map((t) => [t.name, t.columns.map((c) => c.name)]));
  editors.query.setLanguage(backend, schema);
  showSchema(answer, backend);
}

/** What the plugin does, in words. */
function pluginRole(plugin) {
  if (plugin.builds_query && plugin.transforms) return 'Builds the query and transforms rows';
  if (plugin.builds_query) return 'Builds the query';
  if (plugin.transforms) return 'Only transforms rows';
  return 'Neither builds a query nor transforms rows';
}

/** Selects a plugin (or none) and rebuilds the params form, filled from `params` if given. */
function selectPlugin(sha256, params = null) {
  const plugin = pluginsBySha.get(sha256) ?? null;
  if (sha256 === SCRIPT || plugin?.kind === 'script') return selectScript(plugin, params);
  els.scriptArea.hidden = true;
  els.queryNote.textContent = 'not used: the plugin builds the query';
  els.plugin.value = plugin ? plugin.sha256 : '';
  els.paramsForm.replaceChildren();
  paramsForm = plugin
    ? SchemaForm.create(els.paramsForm, plugin.params_schema, params) ??
      new JsonParamsForm(els.paramsForm, params)
    : null;
  els.paramsArea.hidden = !plugin;
  els.pluginInfo.hidden = !plugin;
  const buildsQuery = Boolean(plugin?.builds_query);
  els.queryNote.hidden = !buildsQuery;
  els.query.classList.toggle('unused', buildsQuery);
  if (plugin) {
    els.pluginKind.textContent = pluginRole(plugin);
    els.pluginDescription.textContent = plugin.description ?? '';
    els.pluginLink.href = `/plugins/${encodeURIComponent(plugin.sha256)}`;
  }
  return Promise.resolve();
}

/** The row limit, or null (with the browser's message shown) when it is not a positive whole number. */
function readLimit() {
  const n = Number(els.limit.value);
  const ok = els.limit.value.trim() !== '' && Number.isSafeInteger(n) && n >= 1;
  els.limit.setCustomValidity(ok ? '' : 'The row limit must be a whole number, 1 or more.');
  if (!ok) els.limit.reportValidity();
  return ok ? n : null;
}

/**
 * What every request names: source, plugin (or the script in the editor), params, query;
 * null when the params are invalid.
 */
function readForm() {
  const params = paramsForm ? paramsForm.collect() : {};
  if (params === null) return null;
  const form = {
    source: els.source.value,
    plugin: scriptMode() ? null : els.plugin.value || null,
    params,
    query: editors.query.value.trim() === '' ? null : editors.query.value,
  };
  if (scriptMode()) form.script = editors.script.value;
  const then = readSteps();
  if (then === null) return null;
  if (then.length > 0) {
    // Several plugins: one pipeline, the selected plugin (or script) first.
    const first = { params: form.params };
    if (form.script !== undefined) first.script = form.script;
    else first.plugin = form.plugin;
    form.pipeline = [first, ...then];
    delete form.plugin;
    delete form.script;
    delete form.params;
  }
  return form;
}

// ---------------------------------------------------------------------------
// Scripts: JavaScript written in the page, run by the server's script runner

/** The plugin select's value for the script in the editor. */
const SCRIPT = 'script';

function scriptMode() {
  return els.plugin.value === SCRIPT;
}

/** Where an error message points in the script (`script.js:LINE:COLUMN`), or null. */
function scriptLocation(message) {
  const match = /script\.js:(\d+):(\d+)/.exec(message ?? '');
  return match ? { line: Number(match[1]), column: Number(match[2]) } : null;
}

/** Moves the cursor to an error in the script, marked there. */
function goToScriptLine({ line, column }, message) {
  editors.script.markError(line, column, message);
  editors.script.focus();
}

/** Marks where an error points in the script, with a button that goes there. */
function showScriptError(at, message) {
  editors.script.markError(at.line, at.column, message);
  const go = el('button', 'link-button', `line ${at.line}, column ${at.column}`);
  go.type = 'button';
  go.addEventListener('click', () => goToScriptLine(at, message));
  els.scriptErrorLine.replaceChildren('The error is at ', go, ' of the script.');
  els.scriptErrorLine.hidden = false;
}

function clearScriptError() {
  if (els.scriptErrorLine.hidden) return;
  els.scriptErrorLine.hidden = true;
  editors.script.clearError();
}

/** Puts `text` in the editor; the query it suggests ("Try it with: ...") fills an empty query. */
function setScript(text) {
  editors.script.value = text;
  clearScriptError();
  const suggested = /Try it with: (.*)/.exec(text);
  if (suggested && editors.query.value.trim() === '') editors.query.value = suggested[1].trim();
}

/** Shows the script editor, with a stored script's text, or a starter when it is empty. */
async function selectScript(stored, params) {
  els.plugin.value = SCRIPT;
  els.scriptArea.hidden = false;
  els.paramsForm.replaceChildren();
  paramsForm = new JsonParamsForm(
    els.paramsForm,
    params ?? {},
    'The script\'s params, as a JSON object: the global `params` in the script.',
  );
  els.paramsArea.hidden = false;
  els.pluginInfo.hidden = true;
  els.queryNote.textContent = "used unless the script's buildQuery returns a query";
  els.queryNote.hidden = false;
  els.query.classList.remove('unused');
  if (stored) {
    const response = await fetch(`/api/plugins/${encodeURIComponent(stored.sha256)}/script`);
    if (!response.ok) {
      showError(await responseError(response));
      return;
    }
    setScript(await response.text());
  } else if (editors.script.value.trim() === '' && initial.starter_scripts.length > 0) {
    setScript(initial.starter_scripts[0].text);
  }
}

// ---------------------------------------------------------------------------
// Running

/** The run in progress: its id once started, its AbortController, and whether it ended. */
let current = null;

/**
 * Keeps integers beyond 2^53 exact where the browser can (JSON.rawJSON and the reviver's
 * source text): they stay as their digits in the grid and in the query's bound params.
 */
const exactIntegers =
  typeof JSON.rawJSON === 'function'
    ? (key, value, context) =>
        Number.isInteger(value) && !Number.isSafeInteger(value) && context?.source
          ? JSON.rawJSON(context.source)
          : value
    : undefined;

function parseEvent(line) {
  try {
    // Only a line with a long run of digits can hold such an integer; the rest skip the reviver.
    return JSON.parse(line, /\d{16}/.test(line) ? exactIntegers : undefined);
  } catch (e) {
    throw new Error(`the server sent a line that is not JSON (${e.message}): ${line.slice(0, 200)}`);
  }
}

/** Yields the events of an NDJSON body as they arrive. */
async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
    const lines = buffer.split('\n');
    buffer = done ? '' : lines.pop();
    for (const line of lines) {
      if (line.trim() !== '') yield parseEvent(line);
    }
    if (done) return;
  }
}

function handleEvent(event, run) {
  switch (event.event) {
    case 'started':
      run.id = event.run;
      break;
    case 'columns':
      grid.setColumns(event.columns);
      chartColumns(event.columns);
      break;
    case 'rows':
      grid.appendRows(event.rows);
      break;
    case 'progress':
      showProgress(event.rows_in, event.rows_out);
      break;
    case 'preview':
      previewGrid.setColumns(event.columns);
      previewGrid.appendRows(event.rows);
      els.previewPane.hidden = false;
      els.resultPanes.classList.add('with-preview');
      break;
    case 'step':
      showStepPreview(event);
      break;
    case 'done':
      run.done = true;
      finishRun(event);
      break;
    default:
      // An event this page does not know yet: nothing to show.
      break;
  }
}

/** Shows the `done` event: counts, truncation, query, stats, logs and any error. */
function finishRun(event) {
  els.rowCount.textContent = rowsText(grid.rowCount);
  // No rows: say so beside the (empty) grid, with the query that ran in view.
  $('empty-result').hidden = !(event.ok && grid.rowCount === 0);
  if (event.truncated) {
    els.truncated.textContent = `Truncated at ${rowsText(grid.rowCount)}.`;
    els.truncated.hidden = false;
  }
  els.generatedQuery.textContent = event.query ? describeQuery(event.query) : '';
  renderStats(event.stats ?? null);
  renderLogs(event.logs);
  if (event.stats) showProgress(event.stats.rows_in, event.stats.rows_out);
  if (!event.ok) showError(event.error);
  drawChart();
}

function setRunning(running) {
  els.run.disabled = running;
  els.cancel.disabled = !running;
  els.run.setAttribute('aria-busy', String(running));
  document.body.classList.toggle('running', running);
}

async function run() {
  if (current) return;
  const form = readForm();
  const limit = readLimit();
  if (!form || limit === null) return;

  clearResults();
  const thisRun = { id: null, done: false, controller: new AbortController() };
  thisRun.ended = new Promise((resolve) => {
    thisRun.end = resolve;
  });
  current = thisRun;
  setRunning(true);
  els.rowCounter.textContent = 'Running…';
  try {
    const response = await postJson(
      '/api/runs?format=events',
      { ...form, limit, preview: els.preview.checked },
      thisRun.controller.signal,
    );
    if (!response.ok) {
      els.rowCounter.textContent = '';
      showError(await responseError(response));
      return;
    }
    // Long streams give the page back every few milliseconds, so that clicks (Cancel,
    // scrolling, sorting) are answered while rows arrive.
    let worked = performance.now();
    for await (const event of readEvents(response.body)) {
      handleEvent(event, thisRun);
      if (performance.now() - worked > YIELD_AFTER_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        worked = performance.now();
      }
    }
    if (!thisRun.done) {
      showError({ kind: 'disconnected', message: 'the connection closed before the run finished' });
    }
  } catch (e) {
    if (e.name === 'AbortError') {
      els.rowCount.textContent = rowsText(grid.rowCount);
      showCancelled();
    } else {
      // fetch and the body reader fail with a TypeError when the connection does.
      showError({ kind: e instanceof TypeError ? 'network' : 'error', message: e.message });
    }
  } finally {
    if (els.rowCounter.textContent === 'Running…') els.rowCounter.textContent = '';
    current = null;
    setRunning(false);
    thisRun.end();
    remember();
    if ($('history-panel').open) showHistory();
  }
}

/** Shows the database's plan for the query in the form, without running it. */
async function explain() {
  if (current) return;
  const form = readForm();
  if (!form) return;
  clearResults();
  const button = $('explain');
  button.disabled = true;
  try {
    const response = await postJson('/api/runs', { ...form, explain: true });
    const answer = await response.json().catch(() => null);
    if (!response.ok || !answer?.ok) {
      showError(answer?.error ?? { kind: 'error', message: `HTTP ${response.status}` });
      return;
    }
    $('plan-method').textContent = `(${answer.plan.method})`;
    const tree = (nodes) =>
      nodes.map((node) => {
        const li = el('li');
        li.append(el('span', 'plan-step', node.label));
        if (node.children?.length) {
          const ul = el('ul');
          ul.append(...tree(node.children));
          li.append(ul);
        }
        return li;
      });
    $('plan-tree').replaceChildren(...tree(answer.plan.tree));
    $('plan-panel').hidden = false;
    els.generatedQuery.textContent = describeQuery(answer.query);
    renderLogs(answer.logs);
  } catch (e) {
    showError({ kind: 'network', message: e.message });
  } finally {
    button.disabled = false;
  }
}

/** How long the page handles a stream's events before it answers input again. */
const YIELD_AFTER_MS = 12;

/** Asks the server to stop the run, and stops reading it at once. */
function cancel() {
  const run = current;
  if (!run) return;
  els.cancel.disabled = true;
  // The server stops the query and the plugin (it would also when the stream is cut);
  // the page stops at once, without waiting for it.
  if (run.id !== null) {
    fetch(`/api/runs/${encodeURIComponent(run.id)}/cancel`, { method: 'POST' }).catch(() => {});
  }
  run.controller.abort();
}

// ---------------------------------------------------------------------------
// Downloads and share links

/** Runs the form again in a file format and saves the response as a file. */
async function download(button) {
  const format = button.dataset.format;
  const form = readForm();
  const limit = readLimit();
  if (!form || limit === null) return;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    const response = await postJson(`/api/runs?format=${encodeURIComponent(format)}`, { ...form, limit });
    if (!response.ok) {
      showError(await responseError(response));
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const link = el('a');
    link.href = url;
    link.download = `quarry-run.${format}`;
    document.body.append(link);
    link.click();
    link.remove();
    // The click has started the download; the URL is not needed after this turn.
    setTimeout(() => URL.revokeObjectURL(url), 0);
  } catch (e) {
    showError({ kind: 'network', message: e.message });
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** Saves the form as a snippet and shows its permalink. */
/**
 * The snippet of a form: a pipeline as its first plugin and `then`; a script stored in the
 * library first, so that it is named by its hash. Null (with the error shown) when the
 * script cannot be stored.
 */
async function snippetOf(form) {
  let { pipeline, ...snippet } = form;
  if (pipeline) {
    const [first, ...then] = pipeline;
    snippet = { ...snippet, plugin: first.plugin ?? null, params: first.params ?? {}, then };
    if (first.script !== undefined) snippet.script = first.script;
  }
  const chart = chartSettings();
  if (chart) snippet.chart = chart;
  if (snippet.script !== undefined) {
    const stored = await postJson('/api/scripts', { script: snippet.script });
    if (!stored.ok) {
      showError(await responseError(stored));
      return null;
    }
    snippet.plugin = (await stored.json()).plugin.sha256;
    delete snippet.script;
  }
  return snippet;
}

async function share() {
  const form = readForm();
  if (!form) return;
  els.share.disabled = true;
  try {
    const snippet = await snippetOf(form);
    if (!snippet) return;
    const response = await postJson('/api/snippets', snippet);
    if (!response.ok) {
      showError(await responseError(response));
      return;
    }
    const body = await response.json();
    const url = location.origin + body.url;
    els.shareUrl.href = url;
    els.shareUrl.textContent = url;
    els.shareNote.textContent = '';
    els.shareLine.hidden = false;
    try {
      await navigator.clipboard.writeText(url);
      els.shareNote.textContent = 'Copied to the clipboard.';
    } catch {
      // The clipboard needs permission or a secure context; the link is there to copy.
    }
  } catch (e) {
    showError({ kind: 'network', message: e.message });
  } finally {
    els.share.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Pipelines: more plugins after the first, each transforming the rows of the one before

/** Adds a step: a library plugin that transforms rows, and its params. */
function addStep(plugin = '', params = {}) {
  const steps = $('steps');
  const li = el('li', 'step');
  const number = steps.children.length + 2;
  const select = el('select');
  select.id = `step-plugin-${number}`;
  select.setAttribute('aria-label', `Plugin of step ${number}`);
  select.append(new Option('Choose a plugin…', ''));
  for (const candidate of initial.plugins.filter((p) => p.transforms)) {
    const label = candidate.kind === 'script' ? `${candidate.label ?? candidate.name} (script)` : `${candidate.label ?? candidate.name} ${candidate.version}`;
    select.append(new Option(label, candidate.sha256));
  }
  select.value = plugin;
  const area = el('textarea', 'code step-params');
  area.id = `step-params-${number}`;
  area.rows = 2;
  area.spellcheck = false;
  area.setAttribute('aria-label', `Params of step ${number}, a JSON object`);
  area.value = JSON.stringify(params ?? {});
  const remove = el('button', 'small', 'Remove');
  remove.type = 'button';
  remove.setAttribute('aria-label', `Remove step ${number}`);
  remove.addEventListener('click', () => {
    li.remove();
    remember();
  });
  li.append(select, area, remove);
  steps.append(li);
}

/** The steps after the first, `[{plugin, params}]`; null (with the box marked) when a step's params are not a JSON object or it has no plugin. */
function readSteps() {
  const steps = [];
  for (const li of $('steps').children) {
    const [select, area] = li.querySelectorAll('select, textarea');
    let params = null;
    try {
      params = JSON.parse(area.value.trim() || '{}');
    } catch {
      params = null;
    }
    const ok = isObject(params) && select.value !== '';
    area.setAttribute('aria-invalid', String(!isObject(params)));
    select.setAttribute('aria-invalid', String(select.value === ''));
    if (!ok) {
      (select.value === '' ? select : area).focus();
      return null;
    }
    steps.push({ plugin: select.value, params });
  }
  return steps;
}

/** Puts `then` (a snippet's or the history's later steps) back in the form. */
function showSteps(then) {
  $('steps').replaceChildren();
  for (const step of then ?? []) addStep(step.plugin, step.params);
}

/** A `step` event: that step's name, rows and first rows, in the steps pane. */
function showStepPreview(event) {
  const box = el('section', 'step-preview');
  box.append(el('h3', 'step-title', `Step ${event.step}: ${event.name} — ${rowsText(event.rows_out)}`));
  if (event.columns && event.rows) {
    const table = el('table', 'grid step-grid');
    const head = table.createTHead().insertRow();
    for (const column of event.columns) {
      const th = el('th', null, column.name);
      th.scope = 'col';
      head.append(th);
    }
    const body = table.createTBody();
    for (const row of event.rows) {
      const tr = body.insertRow();
      event.columns.forEach((column, i) => {
        const cell = formatCell(row[i], column.type);
        const td = el('td', cell.className, cell.text);
        if (cell.title) td.title = cell.title;
        tr.append(td);
      });
    }
    const wrap = el('div', 'grid-wrap step-wrap');
    wrap.tabIndex = 0;
    wrap.setAttribute('aria-label', `Step ${event.step}'s first rows`);
    wrap.append(table);
    box.append(wrap);
  }
  $('step-previews').append(box);
  $('steps-pane').hidden = false;
}

// ---------------------------------------------------------------------------
// Charts of the rows (web/static/chart.js, loaded when first drawn)

const chartEls = {
  panel: $('chart-panel'),
  kind: $('chart-kind'),
  x: $('chart-x'),
  y: $('chart-y'),
  series: $('chart-series'),
  note: $('chart-note'),
  box: $('chart'),
};

/** The chart module, imported on first use (it is a quarter of a megabyte). */
let chartModule = null;

/** The chart a shared link asked for, applied once its columns are known. */
let pendingChart = null;

/** Fills the axis choices from the result's columns, keeping choices that still apply. */
function chartColumns(columns) {
  const numeric = (c) => ['int64', 'float64', 'decimal'].includes(c.type);
  const fill = (select, candidates, fallback, none) => {
    const kept = select.value;
    select.replaceChildren(...(none ? [new Option('(none)', '')] : []));
    for (const column of candidates) select.append(new Option(`${column.name} (${column.type})`, column.name));
    const names = candidates.map((c) => c.name);
    select.value = names.includes(kept) ? kept : fallback ?? (none ? '' : names[0] ?? '');
  };
  const category = columns.find((c) => !numeric(c)) ?? columns[0];
  fill(chartEls.x, columns, category?.name);
  fill(chartEls.y, columns, columns.find((c) => numeric(c) && c !== category)?.name);
  fill(chartEls.series, columns, '', true);
  if (pendingChart) {
    chartEls.kind.value = pendingChart.kind;
    for (const axis of ['x', 'y', 'series']) {
      if (pendingChart[axis] && columns.some((c) => c.name === pendingChart[axis])) {
        chartEls[axis].value = pendingChart[axis];
      }
    }
    pendingChart = null;
  }
}

/** The chart's settings, as share links keep them; null when the panel is closed. */
function chartSettings() {
  if (!chartEls.panel.open || !chartEls.x.value || !chartEls.y.value) return null;
  const settings = { kind: chartEls.kind.value, x: chartEls.x.value, y: chartEls.y.value };
  if (chartEls.series.value) settings.series = chartEls.series.value;
  return settings;
}

/** Draws the chart of the rows the grid holds, when the panel is open. */
async function drawChart() {
  const settings = chartSettings();
  if (!settings || grid.rowCount === 0) {
    chartEls.box.replaceChildren();
    chartEls.note.textContent = chartEls.panel.open && grid.rowCount === 0 ? 'Run a query to chart its rows.' : '';
    return;
  }
  chartModule ??= await import('/static/chart.js');
  const chart = chartModule.drawChart({
    columns: grid.columns,
    rows: grid.rows,
    settings,
    width: Math.max(320, Math.min(chartEls.box.clientWidth || 760, 1100)),
    nonce: styleNonce,
  });
  if (typeof chart === 'string') {
    chartEls.box.replaceChildren();
    chartEls.note.textContent = chart;
    return;
  }
  chartEls.box.replaceChildren(chart);
  chartEls.note.textContent =
    grid.rowCount > chartModule.MAX_POINTS
      ? `The first ${chartModule.MAX_POINTS.toLocaleString()} of ${rowsText(grid.rowCount)}.`
      : '';
}

/** Downloads the drawn chart as an SVG or PNG file. */
async function downloadChart(format) {
  const chart = chartEls.box.firstElementChild;
  if (!chart || !chartModule) return;
  const blob =
    format === 'svg'
      ? new Blob([chartModule.svgText(chart)], { type: 'image/svg+xml' })
      : await chartModule.pngBlob(chart);
  const link = el('a');
  link.href = URL.createObjectURL(blob);
  link.download = `quarry-chart.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// ---------------------------------------------------------------------------
// Saved queries, the history, and the work in progress across reloads

/** Saves the form as a named snippet, then lists it. */
async function save() {
  const name = $('save-name').value.trim();
  if (!name) {
    $('save-name').setCustomValidity('Give the query a name to save it under.');
    $('save-name').reportValidity();
    return;
  }
  const form = readForm();
  if (!form) return;
  try {
    const snippet = await snippetOf(form);
    if (!snippet) return;
    const response = await postJson('/api/snippets', { ...snippet, name });
    if (!response.ok) return showError(await responseError(response));
    $('save-name').value = '';
    $('saved-panel').open = true;
    await showSaved();
  } catch (e) {
    showError({ kind: 'network', message: e.message });
  }
}

/** Lists the saved queries (`GET /api/snippets`); each opens its link. */
async function showSaved() {
  const response = await fetch('/api/snippets').catch(() => null);
  if (!response?.ok) return;
  const { snippets } = await response.json();
  const items = snippets.map((saved) => {
    const li = el('li');
    const link = el('a', null, saved.snippet.name);
    link.href = saved.url;
    li.append(link, ' ', el('span', 'muted', saved.snippet.source));
    return li;
  });
  if (items.length === 0) items.push(el('li', 'muted', 'Nothing saved yet: name a query and Save it.'));
  $('saved-list').replaceChildren(...items);
}

/** Lists the caller's latest runs (`GET /api/history`); a click restores one. */
async function showHistory() {
  const response = await fetch('/api/history?limit=30').catch(() => null);
  if (!response?.ok) return;
  const { runs } = await response.json();
  const items = runs.map((entry) => {
    const li = el('li', entry.outcome === 'ok' ? null : 'failed');
    const button = el('button', 'link-button history-run');
    button.type = 'button';
    const plugin = entry.plugin ? pluginsBySha.get(entry.plugin)?.name ?? 'a plugin' : null;
    const what = plugin ? `${plugin}${entry.then ? ` +${entry.then.length}` : ''}` : entry.query ?? '';
    button.append(el('span', 'history-what', what));
    button.title = entry.query ?? '';
    button.addEventListener('click', () => restore(entry));
    const when = new Date(entry.started_at);
    const again = el('button', 'small history-again', 'Run again');
    again.type = 'button';
    again.setAttribute('aria-label', `Run again: ${what}`);
    again.addEventListener('click', async () => {
      await restore(entry);
      run();
    });
    const meta = el('span', 'muted history-meta',
      `${entry.source} · ${entry.outcome === 'ok' ? rowsText(entry.rows_out) : entry.outcome} · ${when.toLocaleTimeString()} `);
    meta.append(again);
    li.append(button, meta);
    return li;
  });
  if (items.length === 0) items.push(el('li', 'muted', 'No runs yet.'));
  $('history-list').replaceChildren(...items);
}

/** Puts a run of the history back in the form: source, plugin, params and query. */
async function restore(entry) {
  if (backendsBySource.has(entry.source)) els.source.value = entry.source;
  const plugin = entry.plugin ? pluginsBySha.get(entry.plugin) : null;
  await selectPlugin(plugin ? plugin.sha256 : '', isObject(entry.params) ? entry.params : {});
  // The query a plugin built is not the user's: it is left out when the plugin builds one.
  if (!plugin?.builds_query) editors.query.value = entry.query ?? '';
  showSteps(entry.then);
  showQueryExample();
  remember();
}

/** Where the work in progress is kept between visits. */
const WORK_KEY = 'quarry.work';

/** Keeps the form (source, plugin, params, query, script) in this browser. */
function remember() {
  try {
    const params = paramsForm ? paramsForm.peek() : null;
    localStorage.setItem(
      WORK_KEY,
      JSON.stringify({
        source: els.source.value,
        plugin: els.plugin.value,
        params,
        query: editors.query.value,
        script: editors.script.value,
        then: [...$('steps').children].map((li) => {
          const [select, area] = li.querySelectorAll('select, textarea');
          let params = {};
          try {
            params = JSON.parse(area.value || '{}');
          } catch {
            // Half typed: kept as empty params.
          }
          return { plugin: select.value, params };
        }),
      }),
    );
  } catch {
    // Storage may be off (private windows): the work is then not kept.
  }
}

/** The work kept by `remember`, or null. */
function remembered() {
  try {
    return JSON.parse(localStorage.getItem(WORK_KEY) ?? 'null');
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Wiring

function init() {
  for (const source of initial.sources) {
    els.source.append(new Option(`${source.name} (${source.backend})`, source.name));
  }
  // Compiled plugins and shared scripts, in groups of their own.
  const groups = [
    ['Plugins', initial.plugins.filter((p) => p.kind !== 'script')],
    ['Shared scripts', initial.plugins.filter((p) => p.kind === 'script')],
  ];
  for (const [label, plugins] of groups) {
    if (plugins.length === 0) continue;
    const group = document.createElement('optgroup');
    group.label = label;
    for (const plugin of plugins) {
      const name = plugin.label ?? plugin.name;
      group.append(new Option(plugin.kind === 'script' ? name : `${name} ${plugin.version}`, plugin.sha256));
    }
    els.plugin.append(group);
  }
  const scriptOption = els.plugin.querySelector(`option[value="${SCRIPT}"]`);
  if (!initial.scripts) {
    scriptOption.disabled = true;
    scriptOption.textContent = 'JavaScript script (this server has no script runner)';
  }
  for (const starter of initial.starter_scripts) els.starter.append(new Option(starter.name, starter.name));

  els.source.addEventListener('change', showQueryExample);
  els.plugin.addEventListener('change', () => selectPlugin(els.plugin.value));
  els.starter.addEventListener('change', () => {
    const starter = initial.starter_scripts.find((s) => s.name === els.starter.value);
    if (starter) {
      editors.query.value = '';
      setScript(starter.text);
      // A starter's documented params (`// Params: {...}`) fill the params.
      const documented = /^\/\/\s*Params:\s*(\{.*?\})/m.exec(starter.text);
      let params = {};
      try {
        params = documented ? JSON.parse(documented[1]) : {};
      } catch {
        // Not JSON after all: the params stay empty.
      }
      els.paramsForm.replaceChildren();
      paramsForm = new JsonParamsForm(
        els.paramsForm,
        params,
        'The script\'s params, as a JSON object: the global `params` in the script.',
      );
    }
    els.starter.value = '';
  });
  els.limit.addEventListener('input', () => els.limit.setCustomValidity(''));
  els.run.addEventListener('click', run);
  els.cancel.addEventListener('click', cancel);
  $('explain').addEventListener('click', explain);
  for (const control of [chartEls.kind, chartEls.x, chartEls.y, chartEls.series]) {
    control.addEventListener('change', drawChart);
  }
  chartEls.panel.addEventListener('toggle', drawChart);
  $('chart-svg').addEventListener('click', () => downloadChart('svg'));
  $('chart-png').addEventListener('click', () => downloadChart('png'));
  $('add-step').addEventListener('click', () => {
    addStep();
    $('steps').lastElementChild.querySelector('select').focus();
  });
  $('steps').addEventListener('change', remember);
  $('save').addEventListener('click', save);
  $('save-name').addEventListener('input', () => $('save-name').setCustomValidity(''));
  $('history-panel').addEventListener('toggle', () => {
    if ($('history-panel').open) showHistory();
  });
  $('saved-panel').addEventListener('toggle', () => {
    if ($('saved-panel').open) showSaved();
  });
  // The work in progress survives a reload.
  for (const target of [els.source, els.plugin, els.paramsForm]) {
    target.addEventListener('change', remember);
  }
  let typing = 0;
  const rememberSoon = () => {
    clearTimeout(typing);
    typing = setTimeout(remember, 300);
  };
  editors.query.view.dom.addEventListener('keyup', rememberSoon);
  editors.script.view.dom.addEventListener('keyup', rememberSoon);
  window.addEventListener('pagehide', remember);
  $('shortcuts-button').addEventListener('click', () => $('shortcuts').showModal());
  $('copy-tsv').addEventListener('click', () => grid.copy('tsv'));
  $('copy-json').addEventListener('click', () => grid.copy('json'));
  els.share.addEventListener('click', share);
  for (const button of document.querySelectorAll('button.download')) {
    button.addEventListener('click', () => download(button));
  }
  document.addEventListener('keydown', (event) => {
    // An editor runs on Ctrl+Enter itself.
    if (event.defaultPrevented) return;
    const typing = event.target.closest?.('input, textarea, select, [contenteditable="true"]');
    if (event.key === '?' && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      $('shortcuts').showModal();
      return;
    }
    if (event.key === 'Enter' && event.shiftKey && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      explain();
      return;
    }
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      run();
    }
  });

  renderStats(null);
  const { snippet, snippet_problem: problem } = initial;
  let selected;
  if (snippet) {
    if (backendsBySource.has(snippet.source)) els.source.value = snippet.source;
    editors.query.value = snippet.query ?? '';
    selected = selectPlugin(snippet.plugin, isObject(snippet.params) ? snippet.params : {});
    showSteps(snippet.then);
    if (snippet.chart) {
      pendingChart = snippet.chart;
      chartEls.panel.open = true;
    }
  } else if (!initial.selected_plugin && remembered()) {
    // Back on the page: the work left here last time.
    const work = remembered();
    if (backendsBySource.has(work.source)) els.source.value = work.source;
    if (work.script) editors.script.value = work.script;
    const plugin = work.plugin === SCRIPT || pluginsBySha.has(work.plugin) ? work.plugin : '';
    selected = selectPlugin(plugin, isObject(work.params) ? work.params : null);
    editors.query.value = work.query ?? '';
    showSteps((work.then ?? []).filter((step) => pluginsBySha.has(step.plugin)));
  } else {
    selected = selectPlugin(initial.selected_plugin);
  }
  showQueryExample();

  if (problem) showError({ kind: 'snippet', message: problem });
  else if (snippet) selected.then(run);
}

init();
