// Table layout: filters, the virtualised ticket list, and bulk update of the selected tickets.
import { useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import { navigate } from '../router';
import { BulkBar } from './BulkBar';
import { FilterBar } from './FilterBar';
import { TicketTable, type TicketTableHandle } from './TicketTable';
import { useFilters } from './useFilters';

export function TablePage({ search }: { search: string }) {
  const [filters, setFilters] = useFilters(search);
  const [selection, setSelection] = useState<Set<number>>(new Set());
  const [reloadKey, setReloadKey] = useState(0);
  const handle = useRef<TicketTableHandle | null>(null);

  return (
    <section class="page table-page" aria-labelledby="page-title">
      <h1 id="page-title" class="sr-only">
        {t('table.title')}
      </h1>
      <FilterBar filters={filters} onChange={(f) => { setSelection(new Set()); setFilters(f); }} />
      {selection.size > 0 && (
        <BulkBar
          ids={[...selection]}
          onClear={() => setSelection(new Set())}
          onDone={(updated) => {
            updated.forEach((ticket) => handle.current?.list.replace(ticket));
            setSelection(new Set());
            setReloadKey((n) => n + 1);
          }}
        />
      )}
      <TicketTable
        label={t('table.title')}
        filters={filters}
        selection={selection}
        onSelectionChange={setSelection}
        onSort={(sort) => setFilters({ ...filters, sort })}
        onOpen={(ticket) => navigate(`/split/${ticket.id}${search}`)}
        reloadKey={reloadKey}
        handle={handle}
      />
    </section>
  );
}
