import { describe, expect, it } from 'vitest';
import { checkFiles, defaultRecipients, MAX_UPLOAD_BYTES, parseAddresses, recipientsPatch, toBase64, toUpload } from './compose';
import type { Message } from './types';

const cc = (emails: string[]) => emails.map((email) => ({ email, name: '' }));
const msg = (kind: Message['kind'], ccs: string[]) => ({ kind, cc: cc(ccs) }) as unknown as Message;

describe('recipients', () => {
  it('parses addresses separated by commas, semicolons or spaces, each once', () => {
    expect(parseAddresses(' a@x.pl, b@y.com;c@z.org  <d@w.eu>\nA@X.pl ')).toEqual({ addresses: ['a@x.pl', 'b@y.com', 'c@z.org', 'd@w.eu'] });
    expect(parseAddresses('')).toEqual({ addresses: [] });
    expect(parseAddresses('a@x.pl, nope')).toEqual({ error: 'invalid', address: 'nope' });
    expect(parseAddresses('a@localhost')).toEqual({ error: 'invalid', address: 'a@localhost' });
    expect(parseAddresses(Array.from({ length: 51 }, (_, i) => `u${i}@x.pl`).join(','))).toEqual({ error: 'tooMany' });
  });

  it('defaults to the customer with the Cc of their last message', () => {
    const thread = { customer: { email: 'c@x.pl' }, messages: [msg('customer', ['old@x.pl']), msg('customer', ['boss@x.pl']), msg('reply', ['other@x.pl'])] };
    expect(defaultRecipients(thread)).toEqual({ to: ['c@x.pl'], cc: ['boss@x.pl'] });
    expect(defaultRecipients({ customer: { email: 'c@x.pl' }, messages: [] })).toEqual({ to: ['c@x.pl'], cc: [] });
  });

  it('sends only what the agent changed', () => {
    const defaults = { to: ['c@x.pl'], cc: ['boss@x.pl'] };
    expect(recipientsPatch('C@x.pl', 'boss@x.pl', defaults)).toEqual({});
    expect(recipientsPatch('c@x.pl', '', defaults)).toEqual({ cc: [] });
    expect(recipientsPatch('c@x.pl, d@x.pl', 'boss@x.pl', defaults)).toEqual({ to: ['c@x.pl', 'd@x.pl'] });
    expect(recipientsPatch('', '', defaults)).toEqual({ error: 'noRecipient', field: 'to' });
    expect(recipientsPatch('c@x.pl', 'bad', defaults)).toEqual({ error: 'invalid', field: 'cc', address: 'bad' });
  });
});

describe('attachments', () => {
  it('refuses more than ten files, or one over 10 MB', () => {
    const small = { name: 'a.txt', size: 10 };
    expect(checkFiles([small])).toBeNull();
    expect(checkFiles(Array(11).fill(small))).toEqual({ error: 'tooMany' });
    expect(checkFiles([small, { name: 'big.iso', size: MAX_UPLOAD_BYTES + 1 }])).toEqual({ error: 'tooLarge', name: 'big.iso' });
  });

  it('encodes bytes as base64, large ones too', () => {
    expect(toBase64(new TextEncoder().encode('Zażółć'))).toBe(Buffer.from('Zażółć').toString('base64'));
    const big = new Uint8Array(100_000).map((_, i) => i % 251);
    expect(toBase64(big)).toBe(Buffer.from(big).toString('base64'));
  });

  it('a file goes with its name and type; a type the API would refuse as octet-stream', async () => {
    const upload = await toUpload(new File(['hello'], 'hi.txt', { type: 'text/plain' }));
    expect(upload).toEqual({ filename: 'hi.txt', content_type: 'text/plain', content_b64: 'aGVsbG8=' });
    expect((await toUpload(new File(['x'], 'x.bin', { type: 'text/plain; charset=utf-8' }))).content_type).toBe('application/octet-stream');
    expect((await toUpload(new File(['x'], 'x.bin'))).content_type).toBe('application/octet-stream');
  });
});
