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
//! the last moment are left to copy) and the next commit restarts the WAL: the file stays
//! bounded, and the lock is held about once per `WAL_RESTART_BYTES` of writes instead of once per
//! 4 MB.
//!
//! A commit never truncates the WAL (SQLite's `journal_size_limit` is off): a restarted WAL is
//! written over from its beginning, in blocks the file already has. Truncating it in the commit
//! that restarts it waited for the disk to finish writing the pages the last checkpoint's fsync
//! had just queued: 10–13 ms (seen with `perf trace`) under the store's lock about every three
//! seconds per file; without it the create p99 at 16 connections went from 50–69 to 41–45 ms
//! (docs/benchmarks.md). The WAL file keeps its largest size (bounded by the restarts, tens of
//! MB under sustained load) while writes go on, and is trimmed once nothing has been
//! written for [`WAL_IDLE_TRIM_AFTER`] (to zero, when it is past [`WAL_KEPT_BYTES`]), when a wait
//! costs no request anything.

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

/// An idle WAL file bigger than this is truncated.
const WAL_KEPT_BYTES: u64 = 4 << 20;

/// How long without a write before the WAL file is trimmed.
const WAL_IDLE_TRIM_AFTER: Duration = Duration::from_secs(5);

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
        Db::open_with(
            path,
            WalLimits {
                restart_bytes: WAL_RESTART_BYTES,
                kept_bytes: WAL_KEPT_BYTES,
                idle_trim_after: WAL_IDLE_TRIM_AFTER,
            },
        )
    }

    fn open_with(path: &Path, limits: WalLimits) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // No truncation inside a commit (the module's docs); the sync thread trims an idle WAL.
        conn.pragma_update(None, "journal_size_limit", -1)?;
        let conn = Arc::new(Mutex::new(conn));
        let wal = WalSync::start(path, conn.clone(), limits);
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

    /// Waits until the background thread has trimmed an idle WAL file more than `trims` times,
    /// at most `timeout`.
    #[cfg(test)]
    fn wait_for_wal_trim(&self, trims: u64, timeout: Duration) -> bool {
        self.wait_for_wal_thread(timeout, |s| s.trims > trims)
    }

    /// Waits until the background thread has made more than `syncs` checkpoints, at most
    /// `timeout`.
    #[cfg(test)]
    pub(crate) fn wait_for_wal_sync(&self, syncs: u64, timeout: Duration) -> bool {
        self.wait_for_wal_thread(timeout, |s| s.syncs > syncs)
    }

    /// Waits until `done` holds of the sync thread's state (checked after each checkpoint and
    /// trim), at most `timeout`.
    #[cfg(test)]
    fn wait_for_wal_thread(&self, timeout: Duration, done: impl Fn(&SyncState) -> bool) -> bool {
        let shared = &self.wal.shared;
        let (state, _) = shared
            .synced
            .wait_timeout_while(lock(&shared.state), timeout, |s| !done(s))
            .unwrap_or_else(PoisonError::into_inner);
        done(&state)
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

/// When the WAL file is checkpointed under the store's lock, and when it is trimmed.
#[derive(Debug, Clone, Copy)]
struct WalLimits {
    /// A WAL bigger than this is checkpointed under the store's lock so that it restarts.
    restart_bytes: u64,
    /// An idle WAL bigger than this is truncated.
    kept_bytes: u64,
    /// How long without a write makes the WAL idle.
    idle_trim_after: Duration,
}

struct Shared {
    db: PathBuf,
    wal: PathBuf,
    dir: PathBuf,
    /// The store's connection: locked only to finish a checkpoint of a WAL that grew too big, and
    /// to trim an idle one.
    store: Arc<Mutex<Connection>>,
    limits: WalLimits,
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
    trims: u64,
}

impl WalSync {
    fn start(db: &Path, store: Arc<Mutex<Connection>>, limits: WalLimits) -> WalSync {
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
            limits,
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
        // Whether the WAL may need trimming: something was written since the last trim.
        let mut untrimmed = false;
        loop {
            let mut state = lock(&self.state);
            if untrimmed {
                let (waited, timeout) = self
                    .wake
                    .wait_timeout_while(state, self.limits.idle_trim_after, |s| {
                        !s.dirty && !s.closed
                    })
                    .unwrap_or_else(PoisonError::into_inner);
                state = waited;
                if timeout.timed_out() {
                    drop(state);
                    untrimmed = false;
                    if self.wal_len() > self.limits.kept_bytes {
                        self.trim(&mut checkpointer);
                    }
                    continue;
                }
            }
            let mut state = self
                .wake
                .wait_while(state, |s| !s.dirty && !s.closed)
                .unwrap_or_else(PoisonError::into_inner);
            if !state.dirty {
                return; // closed, nothing left to sync
            }
            untrimmed = true;
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
        if self.wal_len() > self.limits.restart_bytes {
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

    /// The thread's own connection, opened on first use.
    fn checkpointer<'c>(
        &self,
        checkpointer: &'c mut Option<Connection>,
    ) -> rusqlite::Result<&'c Connection> {
        Ok(match checkpointer {
            Some(conn) => conn,
            None => {
                let conn = Connection::open(&self.db)?;
                conn.busy_timeout(Duration::from_secs(5))?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                checkpointer.insert(conn)
            }
        })
    }

    fn checkpoint(&self, checkpointer: &mut Option<Connection>) -> rusqlite::Result<Checkpoint> {
        let conn = self.checkpointer(checkpointer)?;
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok(Checkpoint {
                log: row.get(1)?,
                copied: row.get(2)?,
            })
        })
    }

    /// Truncates the WAL file of an idle database to zero: every frame copied, with the store's
    /// connection locked (a commit cannot start meanwhile; a read in progress is waited for).
    fn trim(&self, checkpointer: &mut Option<Connection>) {
        let _store = lock(&self.store);
        let result = self.checkpointer(checkpointer).and_then(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            })
        });
        match result {
            Ok(0) => {
                let mut state = lock(&self.state);
                state.trims += 1;
                self.synced.notify_all();
            }
            // Busy: a reader held on for the whole busy timeout; the next idle spell tries again.
            Ok(_) => tracing::debug!("trimming {}: busy", self.wal.display()),
            Err(err) => tracing::warn!("trimming {}: {err}", self.wal.display()),
        }
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

    /// The WAL header's checkpoint sequence number: SQLite adds one each time the WAL restarts.
    fn wal_restarts(wal: &Path) -> Option<u32> {
        use std::io::Read as _;
        // Only the header: the test calls this after every commit, with the WAL at megabytes.
        let mut header = [0u8; 16];
        std::fs::File::open(wal)
            .ok()?
            .read_exact(&mut header)
            .ok()?;
        Some(u32::from_be_bytes(header[12..16].try_into().ok()?))
    }

    #[test]
    fn a_steady_stream_of_commits_still_restarts_the_wal_and_never_truncates_it() {
        let limits = WalLimits {
            restart_bytes: 1 << 20,
            kept_bytes: 0,
            idle_trim_after: Duration::from_secs(3600),
        };
        let (path, dir) = temp_db();
        let db = Db::open_with(&path, limits).expect("open");
        db.write()
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
            .expect("write");
        let wal = dir.join("test.db-wal");
        let blob = vec![7u8; 8192];
        let first = db.wal_syncs();
        let mut restarts = None;
        let (mut peak, mut shrank, mut commits) = (0, false, 0u64);
        // Commit without a pause (so every background checkpoint overlaps commits and none can
        // restart the WAL on its own) until the WAL restarted, or six checkpoints went by.
        while db.wal_syncs() < first + 6 {
            db.write()
                .execute("INSERT OR REPLACE INTO t (id, v) VALUES (1, ?1)", [&blob])
                .expect("write");
            commits += 1;
            let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
            shrank |= len < peak;
            peak = peak.max(len);
            let now = wal_restarts(&wal);
            match restarts {
                None => restarts = now,
                Some(before) if now > Some(before) && peak > limits.restart_bytes => break,
                Some(_) => {}
            }
        }
        assert!(
            wal_restarts(&wal) > restarts,
            "the WAL never restarted: {commits} commits, peak {peak} B"
        );
        assert!(!shrank, "a commit truncated the WAL");
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_idle_wal_is_trimmed_and_keeps_every_commit() {
        let limits = WalLimits {
            restart_bytes: WAL_RESTART_BYTES,
            kept_bytes: 16 << 10,
            idle_trim_after: Duration::from_millis(50),
        };
        let (path, dir) = temp_db();
        let db = Db::open_with(&path, limits).expect("open");
        let wal = dir.join("test.db-wal");
        db.write()
            .execute_batch("CREATE TABLE t (v BLOB)")
            .expect("write");
        for _ in 0..20 {
            db.write()
                .execute("INSERT INTO t VALUES (?1)", [vec![1u8; 4096]])
                .expect("write");
        }
        assert!(std::fs::metadata(&wal).expect("a WAL").len() > limits.kept_bytes);
        assert!(
            db.wait_for_wal_trim(0, Duration::from_secs(30)),
            "an idle WAL past kept_bytes is trimmed"
        );
        assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);
        assert_eq!(
            rows_in_database_file(&path),
            Some(20),
            "every frame copied first"
        );
        // Writing goes on after a trim.
        db.write()
            .execute("INSERT INTO t VALUES (x'00')", [])
            .expect("write");
        let count: i64 = db
            .read()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, 21);
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
