// Split layout: the ticket list beside the open ticket. j/k move through the list and open.
import { useRef } from 'preact/hooks';
import { t } from '../i18n';
import { navigate } from '../router';
import { FilterBar } from './FilterBar';
import { TicketDetail } from './TicketDetail';
import { TicketTable, type TicketTableHandle } from './TicketTable';
import { useFilters } from './useFilters';

export function SplitPage({ search, ticketId }: { search: string; ticketId: number | null }) {
  const [filters, setFilters, { url }] = useFilters(search);
  const handle = useRef<TicketTableHandle | null>(null);
  return (
    <section class="page split-page" aria-labelledby="page-title">
      <h1 id="page-title" class="sr-only">
        {t('split.title')}
      </h1>
      <FilterBar filters={filters} onChange={setFilters} showSort />
      <div class="split">
        <div class="split-list">
          <TicketTable
            label={t('split.list')}
            compact
            filters={filters}
            query={url}
            openId={ticketId}
            openOnMove
            onOpen={(ticket) => navigate(`/split/${ticket.id}${search}`, { replace: true })}
            handle={handle}
          />
        </div>
        <div class="split-detail">
          {ticketId === null ? (
            <p class="muted pick">{t('split.pick')}</p>
          ) : (
            <TicketDetail
              key={ticketId}
              ticketId={ticketId}
              onChanged={(ticket) => handle.current?.list.replace(ticket)}
              onRemoved={(id) => handle.current?.list.remove([id])}
            />
          )}
        </div>
      </div>
    </section>
  );
}
