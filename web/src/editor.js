// The playground's code editors: CodeMirror 6 for the query (SQL, CQL or MongoDB JSON, by
// the source's backend), the script (JavaScript) and the params (JSON). scripts/web.sh
// bundles this file into web/static/editor.js, which the page loads.
//
// Each editor highlights and matches brackets, completes keywords and the source's tables
// and columns (or collections and fields), marks an error at its line and column, and
// runs on Ctrl/Cmd+Enter. Tab indents; Escape then Tab leaves the editor.

import { autocompletion, closeBrackets, closeBracketsKeymap, completeFromList, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { javascript } from '@codemirror/lang-javascript';
import { json } from '@codemirror/lang-json';
import { PostgreSQL, SQLDialect, SQLite, StandardSQL, sql } from '@codemirror/lang-sql';
import { bracketMatching, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { lintGutter, setDiagnostics } from '@codemirror/lint';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { Compartment, EditorState, Prec } from '@codemirror/state';
import { classHighlighter } from '@lezer/highlight';
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers, placeholder } from '@codemirror/view';

/** CQL's words, for highlighting and completion (Cassandra and ScyllaDB). */
const CQL = SQLDialect.define({
  keywords:
    'select from where and or in order by asc desc limit allow filtering distinct json as ' +
    'token per partition group count contains key is not null like cast writetime ttl ' +
    'maxwritetime keyspace table materialized view index using',
  types:
    'ascii bigint blob boolean counter date decimal double duration float inet int smallint ' +
    'text time timestamp timeuuid tinyint uuid varchar varint list map set tuple frozen',
});

/** MongoDB query words, for completion in the JSON of a find or an aggregate. */
const MONGO_WORDS = [
  'collection', 'filter', 'projection', 'sort', 'skip', 'limit', 'pipeline',
  '$match', '$group', '$sort', '$limit', '$skip', '$project', '$count', '$unwind', '$lookup',
  '$sum', '$avg', '$min', '$max', '$first', '$last', '$push', '$addToSet',
  '$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$and', '$or', '$not', '$exists',
  '$regex', '$expr', '$size', '$type',
];

/**
 * The language support for `language`: a backend's query language (`sqlite`, `postgres`,
 * `cockroach`, `scylla`, `mongo`), `javascript` or `json`, completing `schema`'s tables
 * and columns ({"flights": ["year", ...]}).
 */
function languageFor(language, schema = {}) {
  switch (language) {
    case 'sqlite':
      return withColumns(sql({ dialect: SQLite, schema, upperCaseKeywords: true }), schema);
    case 'postgres':
    case 'cockroach':
      return withColumns(sql({ dialect: PostgreSQL, schema, upperCaseKeywords: true }), schema);
    case 'scylla':
      return withColumns(sql({ dialect: CQL, schema, upperCaseKeywords: true }), schema);
    case 'mongo': {
      const names = new Set(MONGO_WORDS);
      for (const [collection, fields] of Object.entries(schema)) {
        names.add(collection);
        for (const field of fields) names.add(field);
      }
      const options = [...names].map((label) => ({
        label,
        type: label.startsWith('$') ? 'keyword' : label in schema ? 'type' : 'property',
      }));
      return [json(), json().language.data.of({ autocomplete: completeFromList(options) })];
    }
    case 'javascript':
      return javascript();
    case 'json':
      return json();
    default:
      return sql({ dialect: StandardSQL, schema });
  }
}

/**
 * SQL support that also completes every column by name, wherever a name may go, saying
 * which tables have it (the dialect completes `table.column` and tables itself).
 */
function withColumns(support, schema) {
  const tables = new Map();
  for (const [table, columns] of Object.entries(schema)) {
    for (const column of columns) {
      if (!tables.has(column)) tables.set(column, []);
      tables.get(column).push(table);
    }
  }
  const options = [...tables].map(([label, owners]) => ({
    label,
    type: 'property',
    detail: owners.join(', '),
    boost: -1,
  }));
  return [support, support.language.data.of({ autocomplete: completeFromList(options) })];
}

/**
 * An editor in `parent`. Options: `doc`, `language` (see languageFor), `schema`, `label`
 * (its accessible name), `placeholder`, `onRun` (Ctrl/Cmd+Enter), `onExplain`
 * (Ctrl/Cmd+Shift+Enter), `onChange(text)`,
 * `nonce` (the page's style nonce), `lines` (show line numbers), `minLines`.
 */
export function createEditor(parent, options = {}) {
  const languageSlot = new Compartment();
  const placeholderSlot = new Compartment();
  // Whether an error is marked, so that the next edit clears it.
  let marked = false;
  const run = () => {
    options.onRun?.();
    return true;
  };
  const explain = () => {
    options.onExplain?.();
    return true;
  };
  const extensions = [
    history(),
    drawSelection(),
    indentOnInput(),
    bracketMatching(),
    closeBrackets(),
    autocompletion({ activateOnTyping: true }),
    highlightActiveLine(),
    highlightSelectionMatches(),
    // Tokens get classes (`tok-keyword`, `tok-string`, ...) that style.css colours for
    // the light and the dark scheme.
    syntaxHighlighting(classHighlighter),
    lintGutter(),
    Prec.highest(keymap.of([
      { key: 'Mod-Enter', run },
      { key: 'Shift-Mod-Enter', run: explain },
    ])),
    keymap.of([
      ...completionKeymap,
      ...closeBracketsKeymap,
      ...defaultKeymap,
      ...searchKeymap,
      ...historyKeymap,
      indentWithTab,
    ]),
    languageSlot.of(languageFor(options.language, options.schema)),
    placeholderSlot.of(placeholder(options.placeholder ?? '')),
    EditorView.lineWrapping,
    EditorView.contentAttributes.of({
      'aria-label': options.label ?? 'Code',
      'aria-multiline': 'true',
      spellcheck: 'false',
      autocapitalize: 'off',
      autocorrect: 'off',
    }),
    EditorView.updateListener.of((update) => {
      if (update.docChanged) {
        // An edit clears the marked error: it may be fixed.
        if (marked) {
          marked = false;
          update.view.dispatch(setDiagnostics(update.view.state, []));
        }
        options.onChange?.(update.state.doc.toString());
      }
    }),
  ];
  if (options.lines !== false) extensions.push(lineNumbers());
  if (options.nonce) extensions.push(EditorView.cspNonce.of(options.nonce));
  const view = new EditorView({
    state: EditorState.create({ doc: options.doc ?? '', extensions }),
    parent,
  });

  return {
    view,
    /** The text. */
    get value() {
      return view.state.doc.toString();
    },
    /** Replaces the text. */
    set value(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text ?? '' } });
    },
    /** Switches the language, and the tables and columns it completes. */
    setLanguage(language, schema) {
      view.dispatch({ effects: languageSlot.reconfigure(languageFor(language, schema)) });
    },
    /** Sets the text shown while the editor is empty. */
    setPlaceholder(text) {
      view.dispatch({ effects: placeholderSlot.reconfigure(placeholder(text ?? '')) });
    },
    /**
     * Marks an error at `line` and `column` (1-based; the whole line without a column),
     * and moves the cursor there.
     */
    markError(line, column, message) {
      const doc = view.state.doc;
      const at = doc.line(Math.min(Math.max(line, 1), doc.lines));
      const from = column ? Math.min(at.from + column - 1, at.to) : at.from;
      const to = column && from < at.to ? from + 1 : at.to;
      marked = true;
      view.dispatch(
        setDiagnostics(view.state, [{ from, to: Math.max(to, from), severity: 'error', message }]),
        { selection: { anchor: from }, scrollIntoView: true },
      );
    },
    /** Clears a marked error. */
    clearError() {
      if (!marked) return;
      marked = false;
      view.dispatch(setDiagnostics(view.state, []));
    },
    focus() {
      view.focus();
    },
    /** Types `text` at the cursor (replacing the selection), as the schema panel does. */
    insert(text) {
      view.dispatch(view.state.replaceSelection(text), { scrollIntoView: true });
      view.focus();
    },
  };
}
