// table.js - a sortable data table: click a column header to sort by it,
// click again to reverse. Rows may be activated (click or Enter) and one row
// may be marked selected. Used by the Threads, Tasks, Profiles and Summary
// views. Not a grid: no paging or virtual scrolling (fine for the few
// thousand rows these views show; the server caps instance lists).
import { h } from './dom.js';

/**
 * sortableTable(options) -> {element, setRows(rows), sortBy(key, dir), select(rowKey)}
 *
 * options.columns: [{
 *   key,               unique id, also the default sort value row[key]
 *   label,             header text
 *   title,             header tooltip (optional)
 *   value(row),        sort value (number or string); default row[key]
 *   render(row),       cell content (string, number or Node); default value
 *   num: true,         right-aligned numeric column; first click sorts descending
 *   sortable: false,   to disable sorting on this column
 *   cellClass(row),    extra class of a cell
 * }]
 * options.rows, options.sort {key, dir: 'asc'|'desc'}, options.rowKey(row),
 * options.onActivate(row, event), options.rowTitle(row), options.emptyText,
 * options.onSort({key, dir}) to remember the sort (e.g. in the URL),
 * options.pageSize: show that many rows first and a "show all" button
 * (long lists stay quick to render and to scan).
 */
export function sortableTable(options) {
  const { columns } = options;
  let rows = options.rows || [];
  let sort = options.sort || null;
  let selectedKey = options.selected ?? null;
  const rowKey = options.rowKey || ((r, i) => i);
  const pageSize = options.pageSize || Infinity;
  let showAll = false;

  const headRow = h('tr');
  const tbody = h('tbody');
  const table = h('table', { class: `data-table ${options.className || ''}` }, h('thead', null, headRow), tbody);

  const headers = columns.map((col) => {
    const cls = col.num ? 'num' : '';
    if (col.sortable === false) {
      const th = h('th', { class: cls, scope: 'col', title: col.title }, h('span', null, col.label));
      headRow.append(th);
      return th;
    }
    const btn = h(
      'button',
      { class: 'sort-btn', type: 'button', title: col.title ? `${col.title} (click to sort)` : 'click to sort' },
      col.num ? h('span', { class: 'sort-ind' }) : null,
      col.label,
      col.num ? null : h('span', { class: 'sort-ind' }),
    );
    const th = h('th', { class: cls, scope: 'col', 'aria-sort': 'none', dataset: { key: col.key } }, btn);
    btn.addEventListener('click', () => {
      let dir;
      if (sort && sort.key === col.key) dir = sort.dir === 'asc' ? 'desc' : 'asc';
      else dir = col.num ? 'desc' : 'asc';
      sortBy(col.key, dir);
      if (options.onSort) options.onSort(sort);
    });
    headRow.append(th);
    return th;
  });

  function valueOf(col, row) {
    return col.value ? col.value(row) : row[col.key];
  }

  function sorted() {
    const indexed = rows.map((r, i) => [r, i]);
    if (!sort) return indexed;
    const col = columns.find((c) => c.key === sort.key);
    if (!col) return indexed;
    const sign = sort.dir === 'asc' ? 1 : -1;
    indexed.sort((a, b) => {
      const va = valueOf(col, a[0]);
      const vb = valueOf(col, b[0]);
      let c;
      if (typeof va === 'number' && typeof vb === 'number') c = va - vb;
      else c = String(va ?? '').localeCompare(String(vb ?? ''), undefined, { numeric: true });
      return c !== 0 ? sign * c : a[1] - b[1]; // stable: ties keep input order
    });
    return indexed;
  }

  function renderBody() {
    headers.forEach((th, i) => {
      if (columns[i].sortable === false) return;
      const s = sort && sort.key === columns[i].key ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none';
      th.setAttribute('aria-sort', s);
    });
    const trs = [];
    const all = sorted();
    const visible = showAll ? all : all.slice(0, pageSize);
    for (const [row, i] of visible) {
      const key = rowKey(row, i);
      const tr = h('tr', { dataset: { key: String(key) } });
      if (options.rowTitle) tr.title = options.rowTitle(row);
      if (options.onActivate) {
        tr.classList.add('clickable');
        tr.tabIndex = 0;
        tr.addEventListener('click', (ev) => {
          if (ev.target.closest('a, button, summary, input')) return; // let inner controls work
          options.onActivate(row, ev);
        });
        tr.addEventListener('keydown', (ev) => {
          if (ev.key === 'Enter') options.onActivate(row, ev);
        });
      }
      if (selectedKey !== null && String(key) === String(selectedKey)) tr.classList.add('selected');
      for (const col of columns) {
        const content = col.render ? col.render(row) : valueOf(col, row);
        const td = h('td', { class: [col.num ? 'num' : '', col.cellClass ? col.cellClass(row) : ''].join(' ').trim() || null });
        if (content instanceof Node) td.append(content);
        else if (content !== null && content !== undefined) td.textContent = String(content);
        tr.append(td);
      }
      trs.push(tr);
    }
    if (trs.length === 0) {
      trs.push(h('tr', { class: 'empty-row' }, h('td', { colspan: columns.length }, options.emptyText || 'Nothing to show')));
    }
    if (visible.length < all.length) {
      const more = h('button', { type: 'button', class: 'link-btn show-all' }, `Show all ${all.length.toLocaleString('en-US')}`);
      more.addEventListener('click', () => {
        showAll = true;
        renderBody();
      });
      trs.push(h('tr', { class: 'more-row' }, h('td', { colspan: columns.length }, `Showing ${visible.length} of ${all.length.toLocaleString('en-US')} · `, more)));
    }
    tbody.replaceChildren(...trs);
  }

  function sortBy(key, dir) {
    sort = { key, dir };
    renderBody();
  }

  function setRows(newRows) {
    rows = newRows;
    renderBody();
  }

  function select(key) {
    selectedKey = key;
    for (const tr of tbody.rows) tr.classList.toggle('selected', key !== null && tr.dataset.key === String(key));
  }

  renderBody();
  return { element: table, setRows, sortBy, select };
}
