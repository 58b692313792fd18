/**
 * A MIME message builder for exactly what certops sends: one multipart/alternative message
 * (RFC 2046 §5.1.4) with a text/plain part then a text/html part, both UTF-8 and
 * quoted-printable (RFC 2045 §6.7), headers per RFC 5322, non-ASCII header text as RFC 2047
 * encoded-words, every line ending in CRLF (RFC 5322 §2.1, RFC 2045 §2.10).
 *
 * Pure except for the random boundary, which can be given for reproducible output.
 */
import { randomBytes } from 'node:crypto';

export interface MimeAddress {
  name?: string;
  /** An ASCII addr-spec (`local@domain`); anything else is refused (no SMTPUTF8 here). */
  address: string;
}

export interface MimeMessage {
  from?: MimeAddress;
  to: MimeAddress[];
  subject: string;
  date: Date;
  /** Without the angle brackets: `id-left@id-right` (RFC 5322 §3.6.4). */
  messageId?: string;
  /** Extra headers (`X-…`): values encoded like the subject; CR and LF are replaced by spaces. */
  headers?: Record<string, string>;
  text: string;
  html: string;
  /** For reproducible output in tests; random otherwise. */
  boundary?: string;
}

const CRLF = '\r\n';
/** RFC 2047 §2: an encoded-word is at most 75 characters. */
const MAX_ENCODED_WORD = 75;
/** RFC 2045 §6.7 rule 5: encoded lines are at most 76 characters. */
const MAX_QP_LINE = 76;
/** RFC 5322 §2.1.1: lines SHOULD be at most 78 characters. */
const MAX_HEADER_LINE = 78;
const ADDR_SPEC = /^[!#-'*+\-/-9=?A-Z^-~]+(\.[!#-'*+\-/-9=?A-Z^-~]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;
/** RFC 5322 §3.2.3 atext plus space: a display name made of these needs no quoting. */
const PLAIN_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;

export class MimeAddressError extends Error {}

/** The whole message, CRLF line endings, ready to be base64-encoded for Graph. */
export function buildMime(message: MimeMessage): string {
  // "=_" cannot occur in quoted-printable output (`=` is always followed by hex or a line break),
  // so no body line can ever look like the boundary (RFC 2046 §5.1.1).
  const boundary = message.boundary ?? `=_certops_${randomBytes(12).toString('hex')}`;
  const headers: Array<[string, string]> = [
    ['MIME-Version', '1.0'],
    ['Date', rfc5322Date(message.date)],
  ];
  if (message.from) headers.push(['From', formatAddress(message.from)]);
  headers.push(['To', message.to.map(formatAddress).join(', ')]);
  headers.push(['Subject', encodeHeaderText(message.subject)]);
  if (message.messageId) headers.push(['Message-ID', `<${oneLine(message.messageId)}>`]);
  for (const [name, value] of Object.entries(message.headers ?? {})) headers.push([name, encodeHeaderText(value)]);
  headers.push(['Content-Type', `multipart/alternative; boundary="${boundary}"`]);

  const part = (type: string, body: string) =>
    [`--${boundary}`, `Content-Type: ${type}; charset=UTF-8`, 'Content-Transfer-Encoding: quoted-printable', '', quotedPrintable(body)].join(CRLF);

  return [
    ...headers.map(([name, value]) => foldHeader(`${name}: ${value}`)),
    '',
    'This is a multi-part message in MIME format.',
    part('text/plain', message.text),
    part('text/html', message.html),
    `--${boundary}--`,
    '',
  ].join(CRLF);
}

/**
 * RFC 2045 §6.7 quoted-printable of the UTF-8 bytes of `text`. Line breaks (LF, CRLF or CR)
 * become CRLF hard breaks; long lines get soft breaks (`=` CRLF) without splitting an `=XX`.
 */
export function quotedPrintable(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => {
      const bytes = Buffer.from(line, 'utf8');
      const tokens: string[] = [];
      bytes.forEach((byte, i) => {
        const last = i === bytes.length - 1;
        // Rule 3: a space or tab at the end of a line must be encoded (transports strip it).
        const literal = (byte >= 33 && byte <= 126 && byte !== 61) || ((byte === 32 || byte === 9) && !last);
        tokens.push(literal ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`);
      });
      const out: string[] = [];
      let current = '';
      for (const token of tokens) {
        // Room for the soft-break `=` at the end of a continued line.
        if (current.length + token.length > MAX_QP_LINE - 1) {
          out.push(`${current}=`);
          current = '';
        }
        current += token;
      }
      out.push(current);
      return out.join(CRLF);
    })
    .join(CRLF);
}

/**
 * Header text as is when it is printable ASCII, otherwise as RFC 2047 "B" encoded-words of
 * UTF-8, each at most 75 characters and each holding whole characters (RFC 2047 §5 (3)).
 */
export function encodeHeaderText(text: string): string {
  const clean = oneLine(text);
  // Printable ASCII stays readable (long lines are folded at spaces); anything else is encoded.
  if (/^[\x20-\x7e]*$/.test(clean)) return clean;
  return encodedWords(clean).join(' ');
}

/** `=?UTF-8?B?…?=` words; joined with a space (folding whitespace between words is ignored, RFC 2047 §6.2). */
export function encodedWords(text: string): string[] {
  // 42 bytes → 56 base64 characters → 68-character words: under RFC 2047's 75, and small enough
  // that "Subject: " and the first word share a line of at most 78 (RFC 5322 §2.1.1).
  const maxBytes = Math.min(((MAX_ENCODED_WORD - '=?UTF-8?B??='.length) >> 2) * 3, ((MAX_HEADER_LINE - 'Subject: =?UTF-8?B??='.length) >> 2) * 3);
  const words: string[] = [];
  let chunk = '';
  for (const char of text) {
    if (Buffer.byteLength(chunk + char, 'utf8') > maxBytes) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk || words.length === 0) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`);
}

/** `Name <addr>`, the name quoted or encoded as needed; throws MimeAddressError for a bad address. */
export function formatAddress(a: MimeAddress): string {
  if (!ADDR_SPEC.test(a.address)) throw new MimeAddressError(`"${oneLine(a.address)}" is not a plain e-mail address`);
  const name = a.name ? oneLine(a.name).trim() : '';
  if (!name) return a.address;
  if (PLAIN_PHRASE.test(name)) return `${name} <${a.address}>`;
  if (/^[\x20-\x7e]*$/.test(name)) return `"${name.replace(/["\\]/g, '\\$&')}" <${a.address}>`;
  return `${encodedWords(name).join(' ')} <${a.address}>`;
}

/** RFC 5322 §3.3 date-time in UTC: `Sat, 01 Jun 2030 00:00:00 +0000`. */
export function rfc5322Date(d: Date): string {
  // toUTCString gives "Sat, 01 Jun 2030 00:00:00 GMT"; "GMT" is only an obsolete zone (§4.3).
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** Header values cannot carry line breaks: a CR or LF would start a forged header (injection). */
function oneLine(text: string): string {
  return text.replace(/[\r\n\t\u0000-\u001f\u007f]+/g, ' ');
}

/** Folds a long header line at spaces (RFC 5322 §2.2.3); a line without spaces is left long. */
function foldHeader(line: string): string {
  if (line.length <= MAX_HEADER_LINE) return line;
  const words = line.split(' ');
  const lines: string[] = [];
  let current = words.shift() ?? '';
  for (const word of words) {
    if (current.length + 1 + word.length > MAX_HEADER_LINE && current.trim().length > 0) {
      lines.push(current);
      current = ` ${word}`;
    } else {
      current += ` ${word}`;
    }
  }
  lines.push(current);
  return lines.join(CRLF);
}
