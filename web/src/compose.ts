/**
 * What the composer sends besides the text: the reply's recipients and its attachments, in the
 * shape `POST /api/v1/threads/{id}/messages` takes (`to`/`cc` as lists of addresses, files as
 * base64 in `attachments`). The limits are the API's (MessageCreateSchema); checking them here
 * only saves a round trip, the gateway still decides.
 */
import type { Message, Thread } from './types';

export const MAX_RECIPIENTS = 50;
export const MAX_UPLOADS = 10;
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const ADDRESS = /^[^\s@,;<>]+@[^\s@,;<>]+\.[^\s@,;<>]+$/;

export interface Upload {
  filename: string;
  content_type: string;
  content_b64: string;
}

export type Parsed = { addresses: string[] } | { error: 'invalid'; address: string } | { error: 'tooMany' };

/** Addresses typed into a To or Cc field: separated by commas, semicolons or spaces; each once. */
export function parseAddresses(text: string): Parsed {
  const seen = new Set<string>();
  const addresses: string[] = [];
  for (const part of text.split(/[\s,;]+/)) {
    const address = part.trim().replace(/^<(.*)>$/, '$1');
    if (!address) continue;
    if (!ADDRESS.test(address) || address.length > 320) return { error: 'invalid', address };
    const key = address.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    addresses.push(address);
  }
  return addresses.length > MAX_RECIPIENTS ? { error: 'tooMany' } : { addresses };
}

/**
 * Who a reply goes to when the agent changes nothing (the gateway's rule, from what is loaded):
 * the thread's customer, with the Cc of the customer's last message.
 */
export function defaultRecipients(thread: Pick<Thread, 'customer' | 'messages'>): { to: string[]; cc: string[] } {
  const customerMessages = thread.messages.filter((m: Message) => m.kind === 'customer');
  const last = customerMessages[customerMessages.length - 1];
  return { to: thread.customer?.email ? [thread.customer.email] : [], cc: (last?.cc ?? []).map((a) => a.email) };
}

const sameList = (a: string[], b: string[]) =>
  a.length === b.length && a.every((x, i) => x.toLowerCase() === b[i].toLowerCase());

/**
 * The `to`/`cc` members of a reply's body: only those the agent changed from the defaults, so an
 * untouched reply keeps the gateway's own choice. An empty To is refused (a reply needs someone).
 */
export function recipientsPatch(
  toText: string,
  ccText: string,
  defaults: { to: string[]; cc: string[] },
): { to?: string[]; cc?: string[] } | { error: 'invalid'; field: 'to' | 'cc'; address: string } | { error: 'noRecipient' | 'tooMany'; field: 'to' | 'cc' } {
  const to = parseAddresses(toText);
  if ('error' in to) return to.error === 'invalid' ? { ...to, field: 'to' } : { error: 'tooMany', field: 'to' };
  if (to.addresses.length === 0) return { error: 'noRecipient', field: 'to' };
  const cc = parseAddresses(ccText);
  if ('error' in cc) return cc.error === 'invalid' ? { ...cc, field: 'cc' } : { error: 'tooMany', field: 'cc' };
  const patch: { to?: string[]; cc?: string[] } = {};
  if (!sameList(to.addresses, defaults.to)) patch.to = to.addresses;
  if (!sameList(cc.addresses, defaults.cc)) patch.cc = cc.addresses;
  return patch;
}

/** Why files cannot go with a message (too many, one too large), or null when they can. */
export function checkFiles(files: { name: string; size: number }[]): { error: 'tooMany' } | { error: 'tooLarge'; name: string } | null {
  if (files.length > MAX_UPLOADS) return { error: 'tooMany' };
  const large = files.find((f) => f.size > MAX_UPLOAD_BYTES);
  return large ? { error: 'tooLarge', name: large.name } : null;
}

/** Bytes as base64, a chunk at a time (a spread of megabytes into fromCharCode would overflow the stack). */
export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** A picked file as the API takes it; a type the API would refuse goes as application/octet-stream. */
export async function toUpload(file: File): Promise<Upload> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  return {
    filename: file.name || 'attachment',
    content_type: MEDIA_TYPE.test(file.type) ? file.type : 'application/octet-stream',
    content_b64: toBase64(bytes),
  };
}
