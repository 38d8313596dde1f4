//! The sidecar's SQLite files (`state.db`, `pubsub.db`, `jobs.db`): how a commit becomes durable.
//!
//! Every database runs in WAL mode with `synchronous=NORMAL`: a commit appends its pages to the
//! `-wal` file with `write(2)` and returns without an fsync. The OS page cache holds them from that
//! moment, so a crash or `kill -9` of the process loses nothing that was acknowledged. What is not
//! yet on the disk itself is made durable by a background thread per database ([`WalSync`]): after
//! a commit it checkpoints the WAL into the database file from its own connection (SQLite fsyncs
//! the WAL before copying and the database after), then waits a second before the next one,
//! however many commits arrived meanwhile. So, as Redis states it for `appendfsync everysec`, **a
//! power loss or kernel crash may lose the writes of the last second**, never more, and never
//! corrupts the file (SQLite ignores WAL frames whose checksums do not match).
//!
//! SQLite's own automatic checkpoint is off on the store's connection: it would run inside a
//! commit, every 1,000 pages, with its two fsyncs (~7 ms each on a virtual disk) under the store's
//! lock, i.e. on the path of every request waiting for the store. The background checkpoint copies
//! without that lock while commits go on. Under a steady stream of commits the WAL can then only
//! restart from its beginning when a checkpoint has copied every frame, so once the file passes
//! [`WAL_RESTART_BYTES`] the thread finishes one checkpoint holding the lock (only the frames of
//! the last moment are left to copy) and the next commit restarts the WAL, truncated to
//! [`WAL_KEPT_BYTES`]: the file stays bounded, and the lock is held about once per
//! `WAL_RESTART_BYTES` of writes instead of once per 4 MB.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// At most one background checkpoint (and so fsync) of a database per this interval, and none
/// while nothing is written.
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// A WAL file bigger than this is checkpointed under the store's lock so that it restarts.
pub(crate) const WAL_RESTART_BYTES: u64 = 32 << 20;

/// What SQLite keeps of the WAL file when it restarts (`journal_size_limit`).
const WAL_KEPT_BYTES: u64 = 4 << 20;

/// A database: one connection for writes (whose commits are made durable in the background), and
/// a pool of read-only connections, so that reads (WAL lets them run beside a commit, on the last
/// committed state) do not queue behind writes.
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
    wal: WalSync,
}

/// Idle read connections kept per database (more are opened under load, and closed after).
const IDLE_READERS: usize = 4;

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("wal", &self.wal.shared.wal)
            .finish_non_exhaustive()
    }
}

/// The connection, locked for a write: when the guard is dropped (the commit done), the WAL is
/// due for its next background checkpoint.
pub(crate) struct WriteGuard<'a> {
    conn: MutexGuard<'a, Connection>,
    wal: &'a WalSync,
}

impl Deref for WriteGuard<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.wal.written();
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path`: WAL, `synchronous=NORMAL`, a busy
    /// timeout so several connections to one file wait rather than fail, and its [`WalSync`].
    pub(crate) fn open(path: &Path) -> rusqlite::Result<Db> {
        Db::open_with(path, WAL_RESTART_BYTES, WAL_KEPT_BYTES)
    }

    fn open_with(path: &Path, wal_restart_bytes: u64, wal_kept_bytes: u64) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "journal_size_limit", wal_kept_bytes as i64)?;
        let conn = Arc::new(Mutex::new(conn));
        let wal = WalSync::start(path, conn.clone(), wal_restart_bytes);
        {
            let conn = lock(&conn);
            if wal.thread.is_some() {
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            } else {
                // Nothing would ever sync or checkpoint: let SQLite do both in every commit.
                conn.pragma_update(None, "synchronous", "FULL")?;
            }
        }
        Ok(Db {
            conn,
            readers: Mutex::new(Vec::new()),
            path: path.to_path_buf(),
            wal,
        })
    }

    /// A connection for reading only: it sees every commit made before it was taken. Falls back
    /// to the write connection if no read-only one can be opened.
    pub(crate) fn read(&self) -> ReadGuard<'_> {
        let idle = lock(&self.readers).pop();
        match idle.map_or_else(|| open_reader(&self.path), Ok) {
            Ok(conn) => ReadGuard::Pooled {
                conn: Some(conn),
                pool: &self.readers,
            },
            Err(err) => {
                tracing::warn!("read connection to {}: {err}", self.path.display());
                ReadGuard::Writer(lock(&self.conn))
            }
        }
    }

    /// The connection for a write (or anything that may write).
    pub(crate) fn write(&self) -> WriteGuard<'_> {
        WriteGuard {
            conn: lock(&self.conn),
            wal: &self.wal,
        }
    }

    /// How many background checkpoints (or fsyncs) of the WAL the thread has made (tests).
    #[cfg(test)]
    pub(crate) fn wal_syncs(&self) -> u64 {
        lock(&self.wal.shared.state).syncs
    }

    /// Waits until the background thread has made more than `syncs` checkpoints, at most
    /// `timeout`.
    #[cfg(test)]
    pub(crate) fn wait_for_wal_sync(&self, syncs: u64, timeout: Duration) -> bool {
        let shared = &self.wal.shared;
        let (state, _) = shared
            .synced
            .wait_timeout_while(lock(&shared.state), timeout, |s| s.syncs <= syncs)
            .unwrap_or_else(PoisonError::into_inner);
        state.syncs > syncs
    }
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    // The OS caches the file already; SQLite's default 2 MB per connection would be paid again
    // for every pooled reader.
    conn.pragma_update(None, "cache_size", -512)?;
    Ok(conn)
}

/// A read connection, back to its pool when dropped.
pub(crate) enum ReadGuard<'a> {
    Pooled {
        conn: Option<Connection>,
        pool: &'a Mutex<Vec<Connection>>,
    },
    Writer(MutexGuard<'a, Connection>),
}

impl Deref for ReadGuard<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            ReadGuard::Pooled { conn, .. } => conn.as_ref().expect("taken only on drop"),
            ReadGuard::Writer(conn) => conn,
        }
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        if let ReadGuard::Pooled { conn, pool } = self
            && let Some(conn) = conn.take()
        {
            let mut idle = lock(pool);
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
    }
}

/// `execute` and `query_row` through the connection's prepared-statement cache: the sidecar runs
/// the same few statements on every call, and parsing them again each time was ~8% of the CPU of
/// a `POST /api/tasks` under load.
pub(crate) trait CachedSql {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl CachedSql for Connection {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The background checkpoint of one database (a thread, stopped and joined on drop after a last
/// checkpoint of what was written).
struct WalSync {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    db: PathBuf,
    wal: PathBuf,
    dir: PathBuf,
    /// The store's connection: locked only to finish a checkpoint of a WAL that grew too big.
    store: Arc<Mutex<Connection>>,
    wal_restart_bytes: u64,
    state: Mutex<SyncState>,
    /// Signalled on a write and on close.
    wake: Condvar,
    /// Signalled after each checkpoint (tests wait on it).
    synced: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Written since the last checkpoint began.
    dirty: bool,
    closed: bool,
    syncs: u64,
}

impl WalSync {
    fn start(db: &Path, store: Arc<Mutex<Connection>>, wal_restart_bytes: u64) -> WalSync {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let dir = match db.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let shared = Arc::new(Shared {
            db: db.to_path_buf(),
            wal: PathBuf::from(wal),
            dir,
            store,
            wal_restart_bytes,
            state: Mutex::new(SyncState::default()),
            wake: Condvar::new(),
            synced: Condvar::new(),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("sqlite-wal-sync".into())
                .spawn(move || shared.run())
                .ok()
        };
        if thread.is_none() {
            tracing::warn!("cannot start the WAL sync thread; every commit syncs");
        }
        WalSync { shared, thread }
    }

    fn written(&self) {
        let mut state = lock(&self.shared.state);
        if !state.dirty {
            state.dirty = true;
            self.shared.wake.notify_all();
        }
    }
}

impl Drop for WalSync {
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How far one `PRAGMA wal_checkpoint(PASSIVE)` got.
struct Checkpoint {
    /// Frames in the WAL.
    log: i64,
    /// Frames of it now in the database file.
    copied: i64,
}

impl Shared {
    fn run(&self) {
        // The thread's own connection: checkpoints run beside the store's commits.
        let mut checkpointer = None;
        let mut dir_synced = false;
        loop {
            let mut state = self
                .wake
                .wait_while(lock(&self.state), |s| !s.dirty && !s.closed)
                .unwrap_or_else(PoisonError::into_inner);
            if !state.dirty {
                return; // closed, nothing left to sync
            }
            state.dirty = false;
            drop(state);
            if let Err(err) = self.make_durable(&mut checkpointer, &mut dir_synced) {
                tracing::warn!("syncing {}: {err}", self.wal.display());
            }
            let mut state = lock(&self.state);
            state.syncs += 1;
            self.synced.notify_all();
            // The next checkpoint no sooner than SYNC_INTERVAL from now, unless closing.
            let until = Instant::now() + SYNC_INTERVAL;
            while !state.closed {
                let Some(left) = until.checked_duration_since(Instant::now()) else {
                    break;
                };
                state = self
                    .wake
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }

    /// Puts every commit made so far on the disk: a checkpoint (which fsyncs the WAL before
    /// copying it), or an fsync of the WAL when the checkpoint could not copy everything.
    fn make_durable(
        &self,
        checkpointer: &mut Option<Connection>,
        dir_synced: &mut bool,
    ) -> std::io::Result<()> {
        let checkpoint = self.checkpoint(checkpointer);
        let complete = matches!(&checkpoint, Ok(c) if c.copied >= c.log);
        if let Err(err) = &checkpoint {
            tracing::warn!("checkpoint of {}: {err}", self.db.display());
        }
        if !complete {
            self.fsync_wal()?;
        }
        if self.wal_len() > self.wal_restart_bytes {
            // Commits went on during that checkpoint; with the store locked none can, so this one
            // copies the rest and the next commit restarts the WAL.
            let _store = lock(&self.store);
            if let Err(err) = self.checkpoint(checkpointer) {
                tracing::warn!("checkpoint of {}: {err}", self.db.display());
            }
        }
        if !*dir_synced {
            // The `-wal` file's directory entry, once (the file stays while a connection is open).
            #[cfg(unix)]
            std::fs::File::open(&self.dir)?.sync_all()?;
            *dir_synced = true;
        }
        Ok(())
    }

    fn checkpoint(&self, checkpointer: &mut Option<Connection>) -> rusqlite::Result<Checkpoint> {
        let conn = match checkpointer {
            Some(conn) => conn,
            None => {
                let conn = Connection::open(&self.db)?;
                conn.busy_timeout(Duration::from_secs(5))?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                checkpointer.insert(conn)
            }
        };
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok(Checkpoint {
                log: row.get(1)?,
                copied: row.get(2)?,
            })
        })
    }

    fn fsync_wal(&self) -> std::io::Result<()> {
        // Opened for writing: some systems refuse to flush a read-only handle.
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.wal)
        {
            Ok(file) => file.sync_data(),
            // No WAL: the last connection closed and SQLite checkpointed (and synced) it.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        }
    }

    fn wal_len(&self) -> u64 {
        std::fs::metadata(&self.wal).map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> (PathBuf, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("dapr-sidecar-durable-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        (dir.join("test.db"), dir)
    }

    #[test]
    fn commits_are_not_synced_by_sqlite_but_by_the_background_thread() {
        let (path, dir) = temp_db();
        let db = Db::open(&path).expect("open");
        let mode: String = lock(&db.conn)
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("journal_mode");
        let synchronous: i64 = lock(&db.conn)
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("synchronous");
        assert_eq!((mode.as_str(), synchronous), ("wal", 1), "WAL + NORMAL");
        let autocheckpoint: i64 = lock(&db.conn)
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .expect("wal_autocheckpoint");
        assert_eq!(autocheckpoint, 0, "no checkpoint inside a commit");

        // Reads alone never sync.
        let _ = db.read().query_row("SELECT 1", [], |r| r.get::<_, i64>(0));
        assert_eq!(db.wal_syncs(), 0);

        db.write()
            .execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);")
            .expect("write");
        assert!(
            db.wait_for_wal_sync(0, Duration::from_secs(30)),
            "a write is made durable in the background"
        );
        assert_eq!(
            rows_in_database_file(&path),
            Some(1),
            "the background checkpoint copied the commit into the database file"
        );
        // A burst of commits right after one sync is covered by one more sync, not one each.
        for v in 2..50 {
            db.write()
                .execute("INSERT INTO t VALUES (?1)", [v])
                .expect("write");
        }
        assert!(db.wait_for_wal_sync(1, Duration::from_secs(30)));
        assert_eq!(db.wal_syncs(), 2, "49 commits, 2 checkpoints");
        drop(db);
        let count: i64 = Connection::open(&path)
            .expect("reopen")
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, 49);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn dropping_the_database_syncs_what_is_pending_and_stops_the_thread() {
        let (path, dir) = temp_db();
        let db = Db::open(&path).expect("open");
        db.write()
            .execute_batch("CREATE TABLE t (v INTEGER)")
            .expect("write");
        assert!(db.wait_for_wal_sync(0, Duration::from_secs(30)));
        // Within the second after that sync: the next write is pending, and drop must not wait
        // out the interval (it returns once the last fsync is done).
        db.write()
            .execute("INSERT INTO t VALUES (1)", [])
            .expect("write");
        let started = Instant::now();
        drop(db);
        assert!(started.elapsed() < SYNC_INTERVAL, "{:?}", started.elapsed());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Rows of `t` in the database file itself, ignoring its WAL (`None`: no table `t` there).
    fn rows_in_database_file(path: &Path) -> Option<i64> {
        let uri = format!("file:{}?immutable=1", path.display());
        let conn = Connection::open_with_flags(
            uri,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
        .expect("open the database file read-only");
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .ok()
    }

    #[test]
    fn a_steady_stream_of_commits_still_restarts_the_wal() {
        const RESTART: u64 = 1 << 20;
        const KEPT: u64 = 256 << 10;
        let (path, dir) = temp_db();
        let db = Db::open_with(&path, RESTART, KEPT).expect("open");
        db.write()
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
            .expect("write");
        let wal = dir.join("test.db-wal");
        let blob = vec![7u8; 8192];
        let first = db.wal_syncs();
        let (mut peak, mut shrank, mut commits) = (0, None, 0u64);
        // Commit without a pause (so every background checkpoint overlaps commits and none can
        // restart the WAL on its own) until the WAL shrinks, or six checkpoints went by.
        while shrank.is_none() && db.wal_syncs() < first + 6 {
            db.write()
                .execute("INSERT OR REPLACE INTO t (id, v) VALUES (1, ?1)", [&blob])
                .expect("write");
            commits += 1;
            let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
            if peak > RESTART && len <= KEPT {
                shrank = Some(len);
            }
            peak = peak.max(len);
        }
        assert!(
            shrank.is_some(),
            "the WAL never restarted: {commits} commits, peak {peak} B"
        );
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reads_do_not_wait_for_a_write_in_progress_and_see_the_last_commit() {
        let (path, dir) = temp_db();
        let db = Arc::new(Db::open(&path).expect("open"));
        db.write()
            .execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);")
            .expect("write");
        let mut writer = db.write();
        let tx = writer.transaction().expect("begin");
        tx.execute("INSERT INTO t VALUES (2)", []).expect("insert");
        // The write connection is held (and its transaction open): read from another thread, so
        // that a read waiting for it fails this test instead of hanging it.
        let (sent, received) = std::sync::mpsc::channel();
        let reader = db.clone();
        std::thread::spawn(move || {
            let count: i64 = reader
                .read()
                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .expect("count");
            let _ = sent.send(count);
        });
        let seen = received.recv_timeout(Duration::from_secs(30));
        tx.commit().expect("commit");
        drop(writer);
        assert_eq!(
            seen,
            Ok(1),
            "the read ran beside the write and saw the committed row only"
        );
        let count: i64 = db
            .read()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, 2, "a read after the commit sees it");
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }
}
