// The results grid: a table that holds any number of rows but puts only the visible
// ones in the page (virtual scrolling), so that hundreds of thousands of streamed rows
// never freeze it. Sort by a column (click its header), resize a column (drag its
// header's edge), select cells (click, Shift+click) or rows (their number) and copy
// them as TSV (Ctrl/Cmd+C) or JSON. Numbers are shown in the reader's locale, with the
// exact value on hover; timestamps without their `T` and `Z`.

/** Column types whose cells are numbers, right-aligned. */
const NUMERIC_TYPES = new Set(['int64', 'float64', 'decimal']);

/** Cells longer than this are cut, with the full value in the tooltip. */
const MAX_CELL_CHARS = 60;

/** Rows drawn beyond the visible ones, above and below. */
const OVERSCAN = 10;

/** Integers group their digits from five on (2013 stays 2013; 336776 is 336,776). */
const INTEGERS = new Intl.NumberFormat(undefined, { useGrouping: 'min2', maximumFractionDigits: 0 });
const DECIMALS = new Intl.NumberFormat(undefined, { useGrouping: 'min2', maximumFractionDigits: 4 });

/** What a cell shows: its text, the exact value on hover when that differs, its class. */
export function formatCell(value, type) {
  if (value === null || value === undefined) return { text: 'NULL', className: 'null' };
  if (value === '') return { text: '', className: 'empty' };
  if (typeof value === 'object') value = JSON.stringify(value);
  const exact = String(value);
  if (NUMERIC_TYPES.has(type)) {
    const n = Number(value);
    // 64-bit integers beyond 2^53 arrive as strings: shown exactly as sent.
    if (typeof value === 'number' && Number.isFinite(n)) {
      const text = Number.isInteger(n) && type === 'int64' ? INTEGERS.format(n) : DECIMALS.format(n);
      return { text, title: text === exact ? undefined : exact, className: 'num' };
    }
    return { text: exact, className: 'num' };
  }
  if (type === 'timestamp' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(exact)) {
    return { text: `${exact.slice(0, 10)} ${exact.slice(11, -1)}`, title: `${exact} (UTC)` };
  }
  if (exact.length > MAX_CELL_CHARS) {
    const chars = [...exact];
    if (chars.length > MAX_CELL_CHARS) {
      return { text: `${chars.slice(0, MAX_CELL_CHARS).join('')}…`, title: exact };
    }
  }
  return { text: exact };
}

/** Orders two cells of a column that are not null: numbers by value, text by code point. */
function compareCells(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const [x, y] = [typeof a === 'object' ? JSON.stringify(a) : String(a), typeof b === 'object' ? JSON.stringify(b) : String(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

export class Grid {
  /** A grid in `table` (with a thead and a tbody), scrolled by its parent element. */
  constructor(table, { label = 'Rows' } = {}) {
    this.table = table;
    this.wrap = table.parentElement;
    this.head = table.tHead;
    this.body = table.tBodies[0];
    this.colgroup = table.querySelector('colgroup') ?? table.insertBefore(document.createElement('colgroup'), this.head);
    this.table.setAttribute('aria-label', label);
    this.wrap.tabIndex = 0;
    this.wrap.addEventListener('scroll', () => this.schedule());
    this.wrap.addEventListener('keydown', (event) => this.onKey(event));
    this.body.addEventListener('click', (event) => this.onClick(event));
    new ResizeObserver(() => this.schedule()).observe(this.wrap);
    this.clear();
  }

  clear() {
    this.columns = [];
    this.rows = [];
    /** Row positions in display order when sorted, else null. */
    this.order = null;
    this.sort = { column: -1, descending: false };
    this.sortedUpTo = 0;
    /** Selected cells: rows and columns from `anchor` to `focus`, inclusive. */
    this.anchor = null;
    this.focus = null;
    this.rowHeight = 0;
    this.head.replaceChildren();
    this.body.replaceChildren();
    this.colgroup.replaceChildren();
    this.rendered = '';
  }

  get rowCount() {
    return this.rows.length;
  }

  /** Sets the columns; rows that came before later columns read null in them. */
  setColumns(columns) {
    const widths = [...this.colgroup.children].map((col) => col.style.width);
    this.columns = columns;
    const tr = document.createElement('tr');
    const corner = document.createElement('th');
    corner.className = 'row-number';
    corner.scope = 'col';
    corner.textContent = '#';
    tr.append(corner);
    const cols = [document.createElement('col')];
    cols[0].style.width = '4.5rem';
    columns.forEach((column, i) => {
      const th = document.createElement('th');
      th.scope = 'col';
      if (NUMERIC_TYPES.has(column.type)) th.className = 'num';
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'sort';
      button.title = `Sort by ${column.name}`;
      const name = document.createElement('span');
      name.className = 'col-name';
      name.textContent = column.name;
      const type = document.createElement('span');
      type.className = 'col-type';
      type.textContent = column.type;
      button.append(name, type);
      button.addEventListener('click', () => this.sortBy(i));
      const handle = document.createElement('span');
      handle.className = 'col-resize';
      handle.title = `Resize ${column.name}`;
      handle.addEventListener('pointerdown', (event) => this.startResize(event, i));
      th.append(button, handle);
      tr.append(th);
      const col = document.createElement('col');
      col.style.width = widths[i + 1] || (NUMERIC_TYPES.has(column.type) ? '8rem' : '11rem');
      cols.push(col);
    });
    this.head.replaceChildren(tr);
    this.colgroup.replaceChildren(...cols);
    this.table.style.width = 'max-content';
    this.markSort();
    this.rendered = '';
    this.schedule();
  }

  /** Adds rows; only what is visible is drawn, at the next frame. */
  appendRows(rows) {
    for (const row of rows) this.rows.push(row);
    this.schedule();
  }

  /** Draws at the next frame (at most once per frame however many rows arrive). */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** The row positions in display order. */
  displayOrder() {
    if (this.sort.column < 0) return null;
    if (!this.order || this.sortedUpTo !== this.rows.length) {
      const column = this.sort.column;
      const order = Array.from(this.rows.keys());
      const sign = this.sort.descending ? -1 : 1;
      const rows = this.rows;
      order.sort((a, b) => {
        const [x, y] = [rows[a][column], rows[b][column]];
        // Nulls last, whichever the direction.
        const [xNull, yNull] = [x === null || x === undefined, y === null || y === undefined];
        if (xNull || yNull) return xNull === yNull ? a - b : xNull ? 1 : -1;
        return sign * compareCells(x, y) || a - b;
      });
      this.order = order;
      this.sortedUpTo = this.rows.length;
    }
    return this.order;
  }

  render() {
    const total = this.rows.length;
    if (!this.rowHeight) {
      // One row's height, measured once the table has a row to measure.
      if (total === 0) return this.body.replaceChildren();
      this.body.replaceChildren(this.rowElement(0, 0));
      this.rowHeight = this.body.rows[0].getBoundingClientRect().height || 28;
    }
    const headHeight = this.head.getBoundingClientRect().height;
    const scrolled = Math.max(0, this.wrap.scrollTop - headHeight);
    const first = Math.max(0, Math.floor(scrolled / this.rowHeight) - OVERSCAN);
    const visible = Math.ceil(this.wrap.clientHeight / this.rowHeight) + 2 * OVERSCAN;
    const last = Math.min(total, first + visible);
    const order = this.displayOrder();
    const key = `${first}:${last}:${total}:${this.sort.column}:${this.sort.descending}:${this.columns.length}`;
    if (key === this.rendered) {
      // The same rows: only the selection may have changed, marked in place (the cells a
      // click landed on stay the same elements).
      this.markSelection();
      return;
    }
    this.rendered = key;
    const fragment = document.createDocumentFragment();
    fragment.append(this.spacer(first * this.rowHeight));
    for (let position = first; position < last; position++) {
      fragment.append(this.rowElement(order ? order[position] : position, position));
    }
    fragment.append(this.spacer((total - last) * this.rowHeight));
    this.body.replaceChildren(fragment);
    this.table.setAttribute('aria-rowcount', String(total + 1));
  }

  /** Marks the selected cells among the rows in the page. */
  markSelection() {
    const selected = this.selectedRange();
    for (const tr of this.body.rows) {
      if (tr.classList.contains('spacer')) continue;
      const position = Number(tr.dataset.position);
      for (const td of tr.querySelectorAll('td')) {
        const column = Number(td.dataset.column);
        const on = Boolean(
          selected &&
            position >= selected.top && position <= selected.bottom &&
            column >= selected.left && column <= selected.right,
        );
        td.classList.toggle('selected', on);
        if (on) td.setAttribute('aria-selected', 'true');
        else td.removeAttribute('aria-selected');
      }
    }
  }

  spacer(height) {
    const tr = document.createElement('tr');
    tr.className = 'spacer';
    tr.setAttribute('aria-hidden', 'true');
    tr.style.height = `${height}px`;
    return tr;
  }

  /** The `tr` of row `index` (in arrival order), shown at `position`. */
  rowElement(index, position) {
    const row = this.rows[index];
    const tr = document.createElement('tr');
    tr.dataset.position = String(position);
    tr.setAttribute('aria-rowindex', String(position + 2));
    const number = document.createElement('th');
    number.scope = 'row';
    number.className = 'row-number';
    number.textContent = String(index + 1);
    tr.append(number);
    const selected = this.selectedRange();
    for (let i = 0; i < this.columns.length; i++) {
      const td = document.createElement('td');
      const cell = formatCell(row[i], this.columns[i].type);
      td.textContent = cell.text;
      if (cell.title) td.title = cell.title;
      if (cell.className) td.className = cell.className;
      td.dataset.column = String(i);
      if (
        selected &&
        position >= selected.top && position <= selected.bottom &&
        i >= selected.left && i <= selected.right
      ) {
        td.classList.add('selected');
        td.setAttribute('aria-selected', 'true');
      }
      tr.append(td);
    }
    return tr;
  }

  // Sorting and resizing

  /** Sorts by column `i`: ascending, then descending, then back to arrival order. */
  sortBy(i) {
    if (this.sort.column !== i) this.sort = { column: i, descending: false };
    else if (!this.sort.descending) this.sort = { column: i, descending: true };
    else this.sort = { column: -1, descending: false };
    this.order = null;
    this.markSort();
    this.schedule();
  }

  markSort() {
    [...this.head.querySelectorAll('th')].slice(1).forEach((th, i) => {
      const sorted = i === this.sort.column;
      th.setAttribute('aria-sort', sorted ? (this.sort.descending ? 'descending' : 'ascending') : 'none');
    });
  }

  startResize(event, i) {
    event.preventDefault();
    const col = this.colgroup.children[i + 1];
    const start = event.clientX;
    const width = col.getBoundingClientRect().width || this.head.rows[0].cells[i + 1].getBoundingClientRect().width;
    const move = (e) => {
      col.style.width = `${Math.max(48, width + e.clientX - start)}px`;
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  // Selection and copying

  onClick(event) {
    const tr = event.target.closest('tr');
    if (!tr || tr.classList.contains('spacer')) return;
    const position = Number(tr.dataset.position);
    const cell = event.target.closest('td, th');
    const whole = cell?.classList.contains('row-number');
    const at = whole
      ? { position, column: 0, toColumn: this.columns.length - 1 }
      : { position, column: Number(cell?.dataset.column ?? 0) };
    if (event.shiftKey && this.anchor) {
      this.focus = { position, column: whole ? this.columns.length - 1 : at.column };
    } else {
      this.anchor = { position, column: at.column };
      this.focus = { position, column: at.toColumn ?? at.column };
    }
    this.wrap.focus({ preventScroll: true });
    this.schedule();
  }

  selectedRange() {
    if (!this.anchor || !this.focus) return null;
    return {
      top: Math.min(this.anchor.position, this.focus.position),
      bottom: Math.max(this.anchor.position, this.focus.position),
      left: Math.min(this.anchor.column, this.focus.column),
      right: Math.max(this.anchor.column, this.focus.column),
    };
  }


  /** The selected cells as TSV (with a header row) or JSON (an array of objects). */
  copyText(format = 'tsv') {
    const range = this.selectedRange();
    if (!range) return '';
    const order = this.displayOrder();
    const columns = this.columns.slice(range.left, range.right + 1);
    const rows = [];
    for (let position = range.top; position <= range.bottom; position++) {
      const row = this.rows[order ? order[position] : position];
      rows.push(row.slice(range.left, range.right + 1));
    }
    if (format === 'json') {
      return JSON.stringify(
        rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i] ?? null]))),
        null,
        2,
      );
    }
    const tsv = (value) =>
      value === null || value === undefined ? '' : String(typeof value === 'object' ? JSON.stringify(value) : value).replace(/[\t\n\r]/g, ' ');
    // A single cell is copied as its value alone.
    if (rows.length === 1 && columns.length === 1) return tsv(rows[0][0]);
    return [columns.map((c) => c.name), ...rows].map((row) => row.map(tsv).join('\t')).join('\n');
  }

  /** Puts the selection on the clipboard; `false` when nothing is selected. */
  async copy(format = 'tsv') {
    const text = this.copyText(format);
    if (!text) return false;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Without clipboard access (an insecure origin): the old way, through a selection.
      const area = document.createElement('textarea');
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    return true;
  }

  onKey(event) {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'c' && this.anchor) {
      event.preventDefault();
      this.copy('tsv');
    } else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'a' && this.rows.length) {
      event.preventDefault();
      this.anchor = { position: 0, column: 0 };
      this.focus = { position: this.rows.length - 1, column: this.columns.length - 1 };
      this.schedule();
    }
  }

  /** Every row's cells as the grid shows them, in display order (for tests and tools). */
  shownRows() {
    const order = this.displayOrder();
    return this.rows.map((_, position) => {
      const row = this.rows[order ? order[position] : position];
      return this.columns.map((column, i) => formatCell(row[i], column.type).text);
    });
  }
}
