import { describe, expect, it } from 'vitest';
import { fold, insertMention, matchPeople, mentionAt, mentionedIds } from './mentions';

const ada = { id: 1, name: 'Ada Agent', email: 'ada@example.com' };
const adam = { id: 2, name: 'Adam Łukasz', email: 'adam@example.com' };
const bozena = { id: 3, name: 'Bożena Kowalska', email: 'bk@example.com' };
const adaOnly = { id: 4, name: 'Ada', email: 'a4@example.com' };
const people = [bozena, adam, ada];

describe('the mention being typed', () => {
  it('is an @ and letters just before the caret, at the start or after a space or bracket', () => {
    expect(mentionAt('@Ad', 3)).toEqual({ start: 0, query: 'Ad' });
    expect(mentionAt('Ask @bo please', 7)).toEqual({ start: 4, query: 'bo' });
    expect(mentionAt('(@Łu', 4)).toEqual({ start: 1, query: 'Łu' });
    expect(mentionAt('cc\n@ada', 7)).toEqual({ start: 3, query: 'ada' });
  });

  it('is not an email address, a bare @, or a finished mention', () => {
    expect(mentionAt('write to ada@exa', 16)).toBeNull();
    expect(mentionAt('just @', 6)).toBeNull();
    expect(mentionAt('@Ada Agent ', 11)).toBeNull();
    expect(mentionAt('@Ada Agent', 10)).toBeNull();
    expect(mentionAt('@Ada and more', 13)).toBeNull();
  });

  it('looks only before the caret', () => {
    expect(mentionAt('@Adam and', 3)).toEqual({ start: 0, query: 'Ad' });
  });
});

describe('matching people', () => {
  it('ranks names that start with the query, then a word of the name, then the email', () => {
    expect(matchPeople(people, 'ad').map((p) => p.id)).toEqual([1, 2]);
    expect(matchPeople(people, 'ko').map((p) => p.id)).toEqual([3]);
    expect(matchPeople(people, 'bk').map((p) => p.id)).toEqual([3]);
    expect(matchPeople([...people, { id: 9, name: 'Zed', email: 'agent@x.pl' }], 'ag').map((p) => p.id)).toEqual([1, 9]);
    expect(matchPeople(people, 'zz')).toEqual([]);
  });

  it('ignores case and Polish diacritics both ways', () => {
    expect(matchPeople(people, 'luk').map((p) => p.id)).toEqual([2]);
    expect(matchPeople(people, 'BOŻ').map((p) => p.id)).toEqual([3]);
    expect(matchPeople(people, 'boz').map((p) => p.id)).toEqual([3]);
    expect(fold('Łódź Żółć')).toBe('lodz zolc');
  });

  it('offers at most the limit', () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ id: i, name: `Agent ${i}`, email: `a${i}@x.pl` }));
    expect(matchPeople(many, 'agent')).toHaveLength(8);
    expect(matchPeople(many, 'agent', 3)).toHaveLength(3);
  });
});

describe('inserting a mention', () => {
  it('replaces the typed query with @Full Name and a space, caret after it', () => {
    const text = 'Ask @ad about it';
    const at = mentionAt(text, 7)!;
    expect(insertMention(text, at, 7, 'Ada Agent')).toEqual({ text: 'Ask @Ada Agent about it', caret: 15 });
    expect(insertMention('@Bo', { start: 0, query: 'Bo' }, 3, 'Bożena Kowalska')).toEqual({ text: '@Bożena Kowalska ', caret: 17 });
  });
});

describe('who a note mentions', () => {
  it('finds whole @Full Names, each once, in text order', () => {
    expect(mentionedIds('@Bożena Kowalska and @Ada Agent, then @Ada Agent again', people)).toEqual([3, 1]);
    expect(mentionedIds('no mentions here', people)).toEqual([]);
  });

  it('matches names without regard to case', () => {
    expect(mentionedIds('thanks @ada agent!', people)).toEqual([1]);
  });

  it('ignores addresses, cut-off or lengthened names', () => {
    expect(mentionedIds('mail x@Ada Agent', people)).toEqual([]);
    expect(mentionedIds('@Ada Agentka', people)).toEqual([]);
    expect(mentionedIds('@Ada Age', people)).toEqual([]);
  });

  it('gives a longer name precedence over a shorter one it starts with', () => {
    expect(mentionedIds('@Ada Agent', [adaOnly, ada])).toEqual([1]);
    expect(mentionedIds('@Ada and @Ada Agent', [ada, adaOnly])).toEqual([4, 1]);
  });
});
