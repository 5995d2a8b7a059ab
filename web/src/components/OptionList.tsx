/**
 * The pop-up list of choices under a text field (people to mention, tickets to pick): a listbox
 * whose highlighted option the field names with `aria-activedescendant`, so focus stays in the
 * field while arrows move through the choices. A click picks without taking focus from the field.
 */
import type { ComponentChildren } from 'preact';

export const optionId = (listId: string, index: number) => `${listId}-opt-${index}`;

export function OptionList<T>({
  id,
  label,
  items,
  active,
  onPick,
  render,
}: {
  id: string;
  label: string;
  items: T[];
  active: number;
  onPick: (item: T) => void;
  render: (item: T) => ComponentChildren;
}) {
  return (
    <ul id={id} role="listbox" aria-label={label} class="option-list">
      {items.map((item, index) => (
        <li
          id={optionId(id, index)}
          role="option"
          aria-selected={index === active}
          class={index === active ? 'active' : undefined}
          onMouseDown={(e) => e.preventDefault()}
          onClick={() => onPick(item)}
        >
          {render(item)}
        </li>
      ))}
    </ul>
  );
}
