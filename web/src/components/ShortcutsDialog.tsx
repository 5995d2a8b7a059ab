import { t, type MessageKey } from '../i18n';
import { Dialog } from './Dialog';

export const SHORTCUTS: [string, MessageKey][] = [
  ['j', 'shortcuts.next'],
  ['k', 'shortcuts.prev'],
  ['Enter / o', 'shortcuts.open'],
  ['x', 'shortcuts.select'],
  ['/', 'shortcuts.search'],
  ['1', 'shortcuts.table'],
  ['2', 'shortcuts.board'],
  ['3', 'shortcuts.split'],
  ['f', 'shortcuts.follow'],
  ['u', 'shortcuts.unread'],
  ['r', 'shortcuts.reply'],
  ['m', 'shortcuts.merge'],
  ['Shift+← / Shift+→', 'shortcuts.move'],
  ['?', 'shortcuts.help'],
  ['Esc', 'shortcuts.close'],
];

export function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  return (
    <Dialog title={t('shortcuts.title')} onClose={onClose} id="shortcuts">
      <table class="shortcuts">
        <tbody>
          {SHORTCUTS.map(([keys, label]) => (
            <tr>
              <th scope="row">
                <kbd>{keys}</kbd>
              </th>
              <td>{t(label)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="dialog-actions">
        <button type="button" class="primary" autoFocus onClick={onClose}>
          {t('app.close')}
        </button>
      </div>
    </Dialog>
  );
}
