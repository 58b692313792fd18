/**
 * FileAuditHeadLog: the embedded runtime's AuditHeadLog (ports/audit-head-log.ts), one file of JSON
 * lines per installation (`audit-heads.jsonl` in the data directory), apart from the SQLite database
 * that holds the records: a database restored from an older copy, or rows cut by anyone who can
 * write it, no longer take the heads with them.
 *
 * Observes: the file's last complete line (its end) and, for the views, the bytes appended since it
 * last looked. Decides: whether a head follows that end, and writes it.
 *
 * How a line is written: opened O_APPEND (every write lands at the end, whatever else wrote), mode
 * 0600 (only certops' user reads its audit), one write of the whole line, then fsync, and the
 * directory fsynced when the file was created: `append` resolves only when the line is on disk.
 * A crash in the middle of a write leaves a last line without its newline (torn): readers leave it
 * out (it was never acknowledged), and the next append cuts it off before writing.
 *
 * Across processes (a `certops serve` and a `certops renew` at once), the end is read, checked and
 * written under `exclusive` (the composition root passes the database's write lock): without it,
 * two appenders could both build on the same end. Within a process every step is synchronous, so
 * two appends cannot interleave.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { headLine, headLogEnd, headLogEntry, parseHeadLog, type HeadLogEnd, type HeadLogEntry, type SignedHead } from '../../domain/signed-head';
import { HeadLogConflictError, type AuditHeadLog } from '../../ports/audit-head-log';

export const HEAD_LOG_FILE = 'audit-heads.jsonl';
/** Only certops' own user may read or write the head log (issue 11, defect 6). */
export const HEAD_LOG_MODE = 0o600;
/** How much of the file's end is read at first to find its last line (a head line is ~400 bytes). */
const TAIL_BYTES = 16 * 1024;
const NEWLINE = 0x0a;

export interface FileAuditHeadLogOptions {
  /** Runs the check-and-write of an append exclusively across processes; synchronous. */
  exclusive?: <T>(fn: () => T) => T;
}

interface Tail {
  /** Byte offset just after the last newline (what is kept); the file's size when not torn. */
  complete: number;
  size: number;
  /** The last complete line, without its newline; null when there is none. */
  lastLine: string | null;
}

export class FileAuditHeadLog implements AuditHeadLog {
  private readonly exclusive: <T>(fn: () => T) => T;
  /** The views' cache: the entries of the file's first `consumed` bytes, for the file `ino`. */
  private cache: { ino: number; consumed: number; entries: HeadLogEntry[] } | null = null;

  constructor(
    readonly file: string,
    options: FileAuditHeadLogOptions = {},
  ) {
    this.exclusive = options.exclusive ?? ((fn) => fn());
  }

  async end(): Promise<HeadLogEnd> {
    if (!fs.existsSync(this.file)) return headLogEnd([]);
    const fd = fs.openSync(this.file, 'r');
    try {
      return this.endAt(fd, readTail(fd));
    } finally {
      fs.closeSync(fd);
    }
  }

  async append(head: SignedHead): Promise<void> {
    const line = headLine(head);
    this.exclusive(() => {
      const created = !fs.existsSync(this.file);
      if (created) fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND, HEAD_LOG_MODE);
      try {
        fs.fchmodSync(fd, HEAD_LOG_MODE); // an older file made wider by hand, or under another umask
        const tail = readTail(fd);
        // A torn last line was never acknowledged: cut it off so the new line starts on its own.
        if (tail.complete < tail.size) fs.ftruncateSync(fd, tail.complete);
        const end = this.endAt(fd, tail);
        if (head.index !== end.index + 1 || head.prev !== end.lineHash) {
          throw new HeadLogConflictError(
            `head log ${this.file} ends at entry ${end.index}, so a head for entry ${head.index} does not follow it: another certops appended first; read the end and sign again`,
          );
        }
        fs.writeSync(fd, `${line}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      if (created) fsyncDirectory(path.dirname(this.file));
    });
  }

  async read(): Promise<HeadLogEntry[]> {
    if (!fs.existsSync(this.file)) return [];
    return parseHeadLog(fs.readFileSync(this.file, 'utf8')).entries;
  }

  async heads(tenantId: string): Promise<SignedHead[]> {
    return this.cachedEntries().flatMap((e) => (e.head && e.head.tenantId === tenantId ? [e.head] : []));
  }

  async latest(tenantId: string): Promise<SignedHead | null> {
    const entries = this.cachedEntries();
    for (let i = entries.length - 1; i >= 0; i--) {
      const head = entries[i].head;
      if (head && head.tenantId === tenantId) return head;
    }
    return null;
  }

  async tenants(): Promise<string[]> {
    return [...new Set(this.cachedEntries().flatMap((e) => (e.tenantId ? [e.tenantId] : [])))].sort();
  }

  /** The end from the tail; a malformed last line needs its position, so the whole file is counted then. */
  private endAt(fd: number, tail: Tail): HeadLogEnd {
    if (tail.lastLine === null) return headLogEnd([]);
    const last = headLogEntry(tail.lastLine, 0);
    if (last.head) return { index: last.head.index, lineHash: last.lineHash };
    const text = Buffer.alloc(tail.complete);
    fs.readSync(fd, text, 0, tail.complete, 0);
    return headLogEnd(parseHeadLog(text.toString('utf8')).entries);
  }

  /**
   * The entries, following the file as it grows: only bytes appended since the last look are read.
   * A file replaced or shortened is read again whole. (Verification never uses this: `read` does.)
   */
  private cachedEntries(): HeadLogEntry[] {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.file);
    } catch {
      this.cache = null;
      return [];
    }
    let cache = this.cache;
    if (!cache || cache.ino !== stat.ino || stat.size < cache.consumed) cache = { ino: stat.ino, consumed: 0, entries: [] };
    if (stat.size > cache.consumed) {
      const fd = fs.openSync(this.file, 'r');
      try {
        const fresh = Buffer.alloc(stat.size - cache.consumed);
        const got = fs.readSync(fd, fresh, 0, fresh.length, cache.consumed);
        const upTo = fresh.subarray(0, got).lastIndexOf(NEWLINE) + 1; // never past a torn line
        const { entries } = parseHeadLog(fresh.subarray(0, upTo).toString('utf8'), cache.entries.length + 1);
        cache = { ino: stat.ino, consumed: cache.consumed + upTo, entries: [...cache.entries, ...entries] };
      } finally {
        fs.closeSync(fd);
      }
    }
    this.cache = cache;
    return cache.entries;
  }
}

/** The file's last complete line and where complete lines end, reading back from the end as far as needed. */
function readTail(fd: number): Tail {
  const size = fs.fstatSync(fd).size;
  for (let want = Math.min(size, TAIL_BYTES); ; want = Math.min(size, want * 4)) {
    const buffer = Buffer.alloc(want);
    fs.readSync(fd, buffer, 0, want, size - want);
    const lastNewline = buffer.lastIndexOf(NEWLINE);
    const previousNewline = lastNewline > 0 ? buffer.lastIndexOf(NEWLINE, lastNewline - 1) : -1;
    // Found when the line before the last newline starts inside the buffer (or the buffer is the whole file).
    if (lastNewline >= 0 && (previousNewline >= 0 || want === size)) {
      return { complete: size - want + lastNewline + 1, size, lastLine: buffer.subarray(previousNewline + 1, lastNewline).toString('utf8') };
    }
    if (want === size) return { complete: 0, size, lastLine: null }; // no complete line at all
  }
}

function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
