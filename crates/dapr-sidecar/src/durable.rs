//! The sidecar's SQLite files (`state.db`, `pubsub.db`, `jobs.db`): how a commit becomes durable.
//!
//! Every database runs in WAL mode with `synchronous=NORMAL`: a commit appends its pages to the
//! `-wal` file with `write(2)` and returns without an fsync. The OS page cache holds them from that
//! moment, so a crash or `kill -9` of the process loses nothing that was acknowledged. What is not
//! yet on the disk itself is flushed by a background thread per database ([`WalSync`]): after a
//! commit it fsyncs the `-wal` file, then waits a second before the next fsync, however many
//! commits arrived meanwhile. So, as Redis states it for `appendfsync everysec`, **a power loss or
//! kernel crash may lose the writes of the last second**, never more, and never corrupts the file
//! (SQLite ignores WAL frames whose checksums do not match); checkpoints (SQLite's, every 1,000
//! pages) fsync the WAL before and the database after copying, as with `FULL`. Under `FULL`
//! (what the sidecar did before) each commit waited for its own fsync: several per API write,
//! several milliseconds each on a virtual disk, serialised behind the store's lock.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// At most one fsync of a database's WAL per this interval (and none while nothing is written).
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// One SQLite connection whose commits are fsynced in the background.
pub(crate) struct Db {
    conn: Mutex<Connection>,
    wal: WalSync,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("wal", &self.wal.shared.wal)
            .finish_non_exhaustive()
    }
}

/// The connection, locked for a write: when the guard is dropped (the commit done), the WAL is
/// due for its next background fsync.
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
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let wal = WalSync::start(path);
        // Without the thread nothing would ever fsync the WAL: let SQLite sync every commit.
        let synchronous = if wal.thread.is_some() {
            "NORMAL"
        } else {
            "FULL"
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        Ok(Db {
            conn: Mutex::new(conn),
            wal,
        })
    }

    /// The connection for reading only (nothing to sync afterwards).
    pub(crate) fn read(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection for a write (or anything that may write).
    pub(crate) fn write(&self) -> WriteGuard<'_> {
        WriteGuard {
            conn: self.read(),
            wal: &self.wal,
        }
    }

    /// How many fsyncs of the WAL the background thread has made (tests).
    #[cfg(test)]
    pub(crate) fn wal_syncs(&self) -> u64 {
        lock(&self.wal.shared.state).syncs
    }

    /// Waits until the background thread has made more than `syncs` fsyncs, at most `timeout`.
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The background fsync of one database's `-wal` file (a thread, stopped and joined on drop
/// after a last fsync of what was written).
struct WalSync {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    wal: PathBuf,
    dir: PathBuf,
    state: Mutex<SyncState>,
    /// Signalled on a write and on close.
    wake: Condvar,
    /// Signalled after each fsync (tests wait on it).
    synced: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Written since the last fsync began.
    dirty: bool,
    closed: bool,
    syncs: u64,
}

impl WalSync {
    fn start(db: &Path) -> WalSync {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let dir = match db.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let shared = Arc::new(Shared {
            wal: PathBuf::from(wal),
            dir,
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

impl Shared {
    fn run(&self) {
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
            if let Err(err) = self.sync(&mut dir_synced) {
                tracing::warn!("fsync of {}: {err}", self.wal.display());
            }
            let mut state = lock(&self.state);
            state.syncs += 1;
            self.synced.notify_all();
            // The next fsync no sooner than SYNC_INTERVAL from now, unless closing.
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

    fn sync(&self, dir_synced: &mut bool) -> std::io::Result<()> {
        // Opened for writing: some systems refuse to flush a read-only handle.
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.wal)
        {
            Ok(file) => file,
            // No WAL: the last connection closed and SQLite checkpointed (and synced) it.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        file.sync_data()?;
        if !*dir_synced {
            // The `-wal` file's directory entry, once (the file stays while a connection is open).
            #[cfg(unix)]
            std::fs::File::open(&self.dir)?.sync_all()?;
            *dir_synced = true;
        }
        Ok(())
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
        let mode: String = db
            .read()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("journal_mode");
        let synchronous: i64 = db
            .read()
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("synchronous");
        assert_eq!((mode.as_str(), synchronous), ("wal", 1), "WAL + NORMAL");

        // Reads alone never sync.
        let _ = db.read().query_row("SELECT 1", [], |r| r.get::<_, i64>(0));
        assert_eq!(db.wal_syncs(), 0);

        db.write()
            .execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);")
            .expect("write");
        assert!(
            db.wait_for_wal_sync(0, Duration::from_secs(30)),
            "a write is fsynced in the background"
        );
        // A burst of commits right after one sync is covered by one more sync, not one each.
        for v in 2..50 {
            db.write()
                .execute("INSERT INTO t VALUES (?1)", [v])
                .expect("write");
        }
        assert!(db.wait_for_wal_sync(1, Duration::from_secs(30)));
        assert_eq!(db.wal_syncs(), 2, "49 commits, 2 fsyncs");
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
}
