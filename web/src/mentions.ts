/**
 * @mentions in an internal note: finding the `@name` being typed at the caret, the people it may
 * mean, putting the chosen one in as `@Full Name`, and reading back which people the finished
 * text still mentions (the ids the note is sent with as `mentions`). Only whole `@Name`s count, so
 * an email address (`ada@example.com`) or a mention the agent edited away mentions nobody.
 */

export interface Person {
  id: number;
  name: string;
  email: string;
}

/** The `@query` being typed: where its `@` is and the letters after it. */
export interface MentionQuery {
  start: number;
  query: string;
}

export const MAX_MATCHES = 8;

// an @ starts a mention at the start of the text or after a character that cannot end an address
const TYPED = /(?:^|[^\p{L}\p{N}_.@+-])@([\p{L}\p{N}_.'-]{1,40})$/u;
const NAME_END = /^[\p{L}\p{N}_]/u;

/** Lower case without diacritics (ł included, which Unicode does not decompose), for matching. */
export function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').replace(/ł/g, 'l').replace(/Ł/g, 'L').toLowerCase();
}

/** The mention being typed just before `caret`, or null when the caret is not in one. */
export function mentionAt(text: string, caret: number): MentionQuery | null {
  const match = TYPED.exec(text.slice(0, caret));
  if (!match) return null;
  return { start: caret - match[1].length - 1, query: match[1] };
}

/**
 * People a query may mean, best first: names that start with it, then names with a word that
 * does, then email addresses that do; at most `limit`, alphabetical within each rank.
 */
export function matchPeople<P extends Person>(people: P[], query: string, limit = MAX_MATCHES): P[] {
  const q = fold(query);
  const ranked: { person: P; rank: number }[] = [];
  for (const person of people) {
    const name = fold(person.name);
    const rank = name.startsWith(q) ? 0 : name.split(/[\s'-]+/).some((word) => word.startsWith(q)) ? 1 : fold(person.email).startsWith(q) ? 2 : -1;
    if (rank >= 0) ranked.push({ person, rank });
  }
  ranked.sort((a, b) => a.rank - b.rank || a.person.name.localeCompare(b.person.name));
  return ranked.slice(0, limit).map((r) => r.person);
}

/** The text with the typed `@query` replaced by `@Name ` and the caret just after it. */
export function insertMention(text: string, at: MentionQuery, caret: number, name: string): { text: string; caret: number } {
  const inserted = `@${name} `;
  const rest = text.slice(caret).replace(/^ /, '');
  return { text: text.slice(0, at.start) + inserted + rest, caret: at.start + inserted.length };
}

/**
 * Ids of the people the text mentions as `@Full Name` (each once, in the order they appear).
 * Longer names are looked for first, so `@Ada Agent` is not also a mention of someone named Ada.
 */
export function mentionedIds(text: string, people: Person[]): number[] {
  const found: { id: number; index: number }[] = [];
  const taken: boolean[] = Array(text.length).fill(false);
  const byLength = [...people].filter((p) => p.name.trim()).sort((a, b) => b.name.length - a.name.length);
  for (const person of byLength) {
    const needle = fold(`@${person.name}`);
    const haystack = fold(text);
    // folding can change lengths (rare letters); then positions would not line up: match exactly instead
    const folded = haystack.length === text.length;
    const source = folded ? haystack : text;
    const target = folded ? needle : `@${person.name}`;
    for (let i = source.indexOf(target); i >= 0; i = source.indexOf(target, i + 1)) {
      const end = i + target.length;
      const before = i === 0 ? '' : text[i - 1];
      if (before && /[\p{L}\p{N}_.@+-]/u.test(before)) continue;
      if (NAME_END.test(text.slice(end, end + 1))) continue;
      if (taken.slice(i, end).some(Boolean)) continue;
      for (let k = i; k < end; k++) taken[k] = true;
      found.push({ id: person.id, index: i });
      break;
    }
  }
  return found.sort((a, b) => a.index - b.index).map((f) => f.id);
}
