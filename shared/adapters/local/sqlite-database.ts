/**
 * The embedded runtime's one SQLite file: opened once by the composition root and shared by the
 * SQLite adapters (certificate store, key store, audit log, event bus).
 *
 * Observes: the file's `schema_version` and its mode. Decides: which migrations still have to run,
 * and that only certops' own user may read the file (issue 11, defect 6: the audit, the inventory
 * and the approvals are in it). The file is created 0600 before SQLite opens it, because SQLite
 * gives its -wal and -shm files the database file's own mode (https://sqlite.org/tempfiles.html;
 * unixOpen's findCreateFileMode); an existing file and those beside it are set to 0600 as well.
 *
 * Pragmas, and why:
 * - `journal_mode = WAL`: readers never block the writer, and a committed transaction survives a
 *   crash of the process (https://sqlite.org/wal.html).
 * - `synchronous = NORMAL`: in WAL mode this loses no committed transaction when the process dies;
 *   only a power loss or OS crash may roll back the last transactions (https://sqlite.org/pragma.html#pragma_synchronous).
 *   That is the durability Service Bus-like semantics need here, at a fraction of FULL's fsyncs.
 * - `busy_timeout`: another process (a CLI next to the runner) holding the write lock makes us wait,
 *   not fail with SQLITE_BUSY.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

export type Database = BetterSqlite3.Database;

/** How long a writer waits for another connection's write lock before failing (ms). */
export const BUSY_TIMEOUT_MS = 5_000;

interface Migration {
  version: number;
  description: string;
  sql: string;
}

/**
 * Append-only: a released migration is never edited; a change is a new migration with the next
 * version. Every table is keyed by tenant first, so that no query can forget the tenant.
 */
const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'certificate store, key store, audit log, event bus',
    sql: `
      CREATE TABLE observations (
        tenant_id TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        address TEXT NOT NULL,
        fingerprint_sha256 TEXT,
        observed_at TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, endpoint_id, address)
      ) WITHOUT ROWID;
      CREATE INDEX observations_by_fingerprint ON observations (tenant_id, fingerprint_sha256);

      CREATE TABLE managed_certificates (
        tenant_id TEXT NOT NULL,
        certificate_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, certificate_id)
      ) WITHOUT ROWID;

      CREATE TABLE notification_states (
        tenant_id TEXT NOT NULL,
        subject_key TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, subject_key)
      ) WITHOUT ROWID;

      CREATE TABLE claims (
        tenant_id TEXT NOT NULL,
        claim_key TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        PRIMARY KEY (tenant_id, claim_key)
      ) WITHOUT ROWID;

      CREATE TABLE secrets (
        tenant_id TEXT NOT NULL,
        name TEXT NOT NULL,
        iv BLOB NOT NULL,
        auth_tag BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        PRIMARY KEY (tenant_id, name)
      ) WITHOUT ROWID;

      CREATE TABLE audit_records (
        tenant_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (tenant_id, seq)
      ) WITHOUT ROWID;

      CREATE TABLE bus_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        subscription TEXT NOT NULL,
        body TEXT NOT NULL,
        enqueued_at TEXT NOT NULL,
        available_at INTEGER NOT NULL,
        locked_until INTEGER,
        lock_token TEXT,
        delivery_count INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX bus_messages_visible ON bus_messages (subscription, available_at);

      CREATE TABLE bus_dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        subscription TEXT NOT NULL,
        body TEXT NOT NULL,
        reason TEXT NOT NULL,
        description TEXT,
        delivery_count INTEGER NOT NULL,
        dead_lettered_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'ACME orders in flight (adapters/acme order journal)',
    sql: `
      CREATE TABLE acme_orders (
        tenant_id TEXT NOT NULL,
        certificate_id TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, certificate_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    description: 'renewal windows the CAs suggested (ACME ARI), per certificate',
    sql: `
      CREATE TABLE renewal_windows (
        tenant_id TEXT NOT NULL,
        cert_id TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, cert_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    description: 'governance state of the L1 loop: gate states, pending approvals, snoozes, digest queue',
    sql: `
      CREATE TABLE gate_states (
        tenant_id TEXT NOT NULL,
        action TEXT NOT NULL,
        version INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, action)
      ) WITHOUT ROWID;

      CREATE TABLE approvals (
        tenant_id TEXT NOT NULL,
        approval_id TEXT NOT NULL,
        status TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        version INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, approval_id)
      ) WITHOUT ROWID;
      CREATE INDEX approvals_by_status ON approvals (tenant_id, status, requested_at);

      CREATE TABLE snoozes (
        tenant_id TEXT NOT NULL,
        subject_key TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, subject_key)
      ) WITHOUT ROWID;

      CREATE TABLE digest_items (
        tenant_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, item_id)
      ) WITHOUT ROWID;
      CREATE INDEX digest_items_by_age ON digest_items (tenant_id, queued_at, item_id);
    `,
  },
  {
    version: 5,
    description: 'the signed head of each tenant\'s audit chain, kept apart from the records',
    sql: `
      CREATE TABLE audit_signed_heads (
        tenant_id TEXT PRIMARY KEY,
        record TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    // The heads moved to their own append-only log beside the database (adapters/local/
    // file-audit-head-log.ts). The rows are not carried over: they lived in the very file whose
    // truncation they were meant to reveal, replaceable by whoever can write it (issue 11, defect
    // 1), so copying them into the log would lend them a trust they never had. The first signing
    // after the upgrade (the next sweep's end, or five minutes) signs every chain's tip afresh.
    version: 6,
    description: 'the signed heads leave the database for the head log',
    sql: `DROP TABLE IF EXISTS audit_signed_heads;`,
  },
];

/** Only certops' own user may read or write the database and its -wal and -shm files. */
export const DATABASE_FILE_MODE = 0o600;

/** The schema version this code expects; a file with a newer one was written by a newer certops. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * Opens (creating if needed) the database file at `filePath`, sets the pragmas above and runs the
 * migrations it lacks, each in its own transaction. Throws when the file's schema is newer than
 * this code (downgrades are refused rather than guessed).
 */
export function openDatabase(filePath: string): Database {
  if (filePath !== ':memory:') {
    fs.mkdirSync(path.dirname(path.resolve(filePath)), { recursive: true, mode: 0o700 });
    restrictToOwner(filePath);
  }
  const db = new BetterSqlite3(filePath);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Creates the database file 0600 when absent (before SQLite does, with its default 0644), and sets
 * an existing one, and the -wal and -shm files a previous run left, to 0600.
 */
function restrictToOwner(filePath: string): void {
  fs.closeSync(fs.openSync(filePath, 'a', DATABASE_FILE_MODE));
  for (const file of [filePath, `${filePath}-wal`, `${filePath}-shm`]) {
    try {
      fs.chmodSync(file, DATABASE_FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Closes the connection; idempotent. */
export function closeDatabase(db: Database): void {
  if (db.open) db.close();
}

function migrate(db: Database): void {
  // IMMEDIATE: two processes opening a fresh file at once must not both run migration 1.
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)');
  }).immediate();
  for (const migration of MIGRATIONS) {
    db.transaction(() => {
      const current = currentVersion(db);
      if (current > SCHEMA_VERSION) {
        throw new Error(
          `database ${db.name} has schema version ${current}, newer than this certops (${SCHEMA_VERSION}): upgrade certops or use another data directory`,
        );
      }
      if (current >= migration.version) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(
        migration.version,
        new Date().toISOString(),
      );
    }).immediate();
  }
}

function currentVersion(db: Database): number {
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}
