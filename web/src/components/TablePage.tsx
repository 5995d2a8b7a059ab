// Table layout: filters, the virtualised ticket list, and bulk update of the selected tickets.
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import { navigate } from '../router';
import { can, hasSeat, useMe } from '../store';
import { columnsFromApi } from '../views';
import { BulkBar } from './BulkBar';
import { FilterBar } from './FilterBar';
import { COLUMNS, DEFAULT_COLUMNS, TicketTable, type ColumnKey, type TicketTableHandle } from './TicketTable';
import { ViewsMenu } from './ViewsMenu';

const COLUMNS_KEY = 'helpdesk.columns';

function storedColumns(): ColumnKey[] {
  try {
    const raw = JSON.parse(localStorage.getItem(COLUMNS_KEY) ?? 'null');
    if (Array.isArray(raw)) return raw.filter((k) => COLUMNS.some((c) => c.key === k));
  } catch {
    /* the default columns */
  }
  return DEFAULT_COLUMNS;
}

// The column choice is kept in this browser; applying a saved view shows the view's columns.
function ColumnPicker({ columns, seat, onChange }: { columns: ColumnKey[]; seat: boolean; onChange: (next: ColumnKey[]) => void }) {
  return (
    <details class="columns-menu">
      <summary>{t('table.columns')}</summary>
      <fieldset>
        <legend class="sr-only">{t('table.columns')}</legend>
        {COLUMNS.filter((c) => c.key !== 'name' && (seat || c.key !== 'sla')).map((c) => (
          <label class="check">
            <input
              type="checkbox"
              checked={columns.includes(c.key)}
              onChange={() => onChange(columns.includes(c.key) ? columns.filter((k) => k !== c.key) : [...columns, c.key])}
            />{' '}
            {t(c.label)}
          </label>
        ))}
      </fieldset>
    </details>
  );
}
import { useFilters } from './useFilters';

export function TablePage({ search }: { search: string }) {
  const [filters, setFilters, { url, view }] = useFilters(search);
  const me = useMe();
  const seat = hasSeat(me);
  const [selection, setSelection] = useState<Set<number>>(new Set());
  const [reloadKey, setReloadKey] = useState(0);
  const handle = useRef<TicketTableHandle | null>(null);
  const [columns, setColumns] = useState<ColumnKey[]>(storedColumns);
  const chooseColumns = (next: ColumnKey[]) => {
    setColumns(next);
    try {
      localStorage.setItem(COLUMNS_KEY, JSON.stringify(next));
    } catch {
      /* kept for this page only */
    }
  };
  useEffect(() => {
    const viewColumns = columnsFromApi(view?.columns);
    if (viewColumns) chooseColumns(viewColumns);
  }, [view?.id, view?.updated_at]);

  return (
    <section class="page table-page" aria-labelledby="page-title">
      <h1 id="page-title" class="sr-only">
        {t('table.title')}
      </h1>
      <div class="filters-row">
        <FilterBar
          filters={filters}
          onChange={(f) => {
            setSelection(new Set());
            setFilters(f);
          }}
        />
        {seat && <ViewsMenu shown={filters} columns={columns} applied={url.view_id} />}
        <ColumnPicker columns={columns} seat={seat} onChange={chooseColumns} />
      </div>
      {selection.size > 0 && (
        <BulkBar
          ids={[...selection]}
          onClear={() => setSelection(new Set())}
          onDone={(updated) => {
            updated.forEach((ticket) => handle.current?.list.replace(ticket));
            setSelection(new Set());
            setReloadKey((n) => n + 1);
          }}
          onDeleted={
            can(me, 'bulk_delete')
              ? (gone) => {
                  handle.current?.list.remove(gone);
                  setSelection(new Set());
                }
              : undefined
          }
        />
      )}
      <TicketTable
        label={t('table.title')}
        filters={filters}
        query={url}
        selection={selection}
        onSelectionChange={setSelection}
        onSort={(sort) => setFilters({ ...filters, sort })}
        onOpen={(ticket) => navigate(`/split/${ticket.id}${search}`)}
        reloadKey={reloadKey}
        handle={handle}
        columns={seat ? columns : columns.filter((c) => c !== 'sla')}
      />
    </section>
  );
}
