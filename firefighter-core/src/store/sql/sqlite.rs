//! The SQLite backend: connecting, the writer thread, batched declarations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::commits::CommitProbe;
use crate::store::{DataVersions, Declared, NewIncidentRecord};
use crate::{Error, Result};

/// The SQLite backend: the embedded default, one file (or memory).
///
/// Reads use a pool of connections (WAL: they never wait for writers);
/// writes queue for one connection of their own, so concurrent writers
/// wait their turn in order instead of polling SQLite's lock with sleeps.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) pool: sqlx::SqlitePool,
    pub(super) writer: sqlx::SqlitePool,
    /// Runs write transactions on a thread of their own (see [`WriterThread`]).
    pub(super) writer_thread: Option<WriterThread>,
    /// Declarations waiting for the writer, written together.
    pub(super) declarations: Arc<DeclarationQueue>,
    /// Tells when nothing was committed since the versions were last read
    /// (a file database; `None` in memory).
    pub(super) commits: Option<Arc<CommitProbe>>,
    /// Held by every clone: the checkpoints stop when the last one goes.
    _alive: Option<Arc<()>>,
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(1000);

/// Past this many frames (4 KiB pages) left in the WAL after a passive
/// checkpoint, the WAL is restarted (see [`restart_wal`]).
const RESTART_WAL_AFTER_FRAMES: i64 = 2048;

/// How long a restart waits for readers of older snapshots. It holds the
/// writer meanwhile, so it gives up early and tries again at the next tick.
const RESTART_WAITS_FOR_READERS_MS: u32 = 50;

/// The WAL file is cut back to this size when it restarts.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// How long a connection waits for a lock held by another.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What `PRAGMA wal_checkpoint` answers: busy (1 when it could not finish),
/// frames in the WAL, frames copied into the database file.
type Checkpoint = (i64, i64, i64);

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`], on
/// a reading connection, while a clone of the store lives. SQLite would
/// otherwise checkpoint on the writer, in the commit that crosses its
/// threshold, syncing the file there: tens of milliseconds during which no
/// declaration commits. A passive checkpoint runs beside the writer.
///
/// A passive checkpoint never restarts the WAL: under steady writes a new
/// commit always lands between it and the next one, so the WAL would grow
/// without end (hundreds of MB within a minute of sustained declarations),
/// and every checkpoint, and every read, would search all of it. When a
/// passive checkpoint leaves a large WAL, [`restart_wal`] finishes the job.
fn checkpoints(pool: sqlx::SqlitePool, writer: sqlx::SqlitePool, alive: std::sync::Weak<()>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // A long read keeps the restart from finishing: each try holds the
        // writer, so after one that gave up, the next waits 1, 2, 4... 32 ticks.
        let (mut pause, mut paused) = (1u32, 0u32);
        loop {
            tick.tick().await;
            if alive.strong_count() == 0 {
                return;
            }
            let frames = match sqlx::query_as::<_, Checkpoint>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&pool)
                .await
            {
                Ok((_, frames, _)) => frames,
                Err(e) => {
                    tracing::debug!(error = %e, "SQLite checkpoint failed; trying again shortly");
                    continue;
                }
            };
            if frames <= RESTART_WAL_AFTER_FRAMES {
                continue;
            }
            if paused > 0 {
                paused -= 1;
                continue;
            }
            // Another passive pass copies what was committed during the
            // first, so the restart, which holds the writer, only has the
            // last few milliseconds' commits to copy.
            let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await;
            match restart_wal(&writer).await {
                Ok((0, _, _)) => pause = 1,
                Ok(_) => {
                    tracing::debug!(
                        ticks = pause,
                        "a reader kept the SQLite WAL from restarting"
                    );
                    paused = pause;
                    pause = (pause * 2).min(32);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "SQLite WAL restart failed; trying again shortly")
                }
            }
        }
    });
}

/// Copies what is left of the WAL into the database file and makes the next
/// commit write the WAL from its start, on the writer connection (so no
/// commit of this process lands in between; the passive checkpoints before
/// copied most of it). Readers of older snapshots are waited for
/// [`RESTART_WAITS_FOR_READERS_MS`] at most, by trying again at once rather
/// than with SQLite's busy handler, which sleeps 1, 2, then 5 ms: reads take
/// microseconds, and the writer is held meanwhile.
pub(super) async fn restart_wal(writer: &sqlx::SqlitePool) -> Result<Checkpoint> {
    let mut conn = writer.acquire().await?;
    sqlx::query("PRAGMA busy_timeout = 0")
        .execute(&mut *conn)
        .await?;
    let started = std::time::Instant::now();
    let restarted = loop {
        let tried = sqlx::query_as::<_, Checkpoint>("PRAGMA wal_checkpoint(RESTART)")
            .fetch_one(&mut *conn)
            .await;
        match tried {
            Ok((1, _, _))
                if started.elapsed()
                    < Duration::from_millis(RESTART_WAITS_FOR_READERS_MS.into()) =>
            {
                tokio::task::yield_now().await;
            }
            other => break other,
        }
    };
    let restored = sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {}",
        BUSY_TIMEOUT.as_millis()
    )))
    .execute(&mut *conn)
    .await;
    if restored.is_err() {
        // A writer that would not wait for locks must not be used again.
        conn.close_on_drop();
    }
    restored?;
    Ok(restarted?)
}

/// Most declarations written in one transaction.
pub(super) const MAX_DECLARATION_BATCH: usize = 64;

/// Declarations waiting for the SQLite writer.
///
/// Each statement of a write costs a round trip to SQLite's thread, and
/// declaring writes about ten of them. While one batch is being written,
/// new declarations queue here; the next batch writes all of them in one
/// transaction with one statement per table, so under load a declaration
/// costs a fraction of the round trips. Alone, a declaration is written
/// as before.
#[derive(Debug, Default)]
pub(super) struct DeclarationQueue {
    pub(super) state: std::sync::Mutex<QueuedDeclarations>,
}

pub(super) type DeclarationReply = tokio::sync::oneshot::Sender<Result<Declared>>;

#[derive(Debug, Default)]
pub(super) struct QueuedDeclarations {
    pub(super) waiting: Vec<(Arc<NewIncidentRecord>, DeclarationReply)>,
    /// Whether a task is writing them.
    pub(super) draining: bool,
}

/// Lets the next declaration start a new drain if a drain ends by panicking.
pub(super) struct DrainGuard<'a>(&'a DeclarationQueue);

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
            state.draining = false;
            // Their callers get an error instead of waiting forever.
            state.waiting.clear();
        }
    }
}

/// A job for the [`WriterThread`].
pub(super) type WriteJob = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A thread with its own small runtime that drives write transactions.
///
/// SQLite has one writer at a time, so a write transaction holds up every
/// other write until it commits. Each of its statements is a round trip to
/// the connection's thread; driven from the application's runtime, the
/// transaction would also wait, between statements, behind every request
/// being handled there. Here it resumes as soon as each statement is done.
#[derive(Debug, Clone)]
pub(super) struct WriterThread {
    pub(super) jobs: tokio::sync::mpsc::UnboundedSender<WriteJob>,
}

impl WriterThread {
    pub(super) fn start() -> Result<WriterThread> {
        let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<WriteJob>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the SQLite writer: {e}")))?;
        std::thread::Builder::new()
            .name("ff-sqlite-writer".into())
            .spawn(move || {
                // Ends when every store holding the sender is gone.
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        tokio::spawn(job);
                    }
                });
            })
            .map_err(|e| Error::Config(format!("cannot start the SQLite writer: {e}")))?;
        Ok(WriterThread { jobs })
    }

    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::pin(async move {
            let _ = done.send(work.await);
        });
        let stopped = || Error::Config("the SQLite writer thread stopped".into());
        self.jobs.send(job).map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) the database at `url` (`sqlite:path.db`,
    /// `sqlite::memory:`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let store = if in_memory {
            // An in-memory database lives as long as its one connection.
            let pool = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            Self::from_pool(pool)
        } else {
            // No ping before each use: the database is in this process,
            // and a ping is one more round trip to the connection's thread.
            let pool = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(8)
                .connect_with(options.clone())
                .await?;
            // The writer leaves checkpoints to a reading connection (see `checkpoints`).
            let writer = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(
                    options
                        .pragma("wal_autocheckpoint", "0")
                        .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string()),
                )
                .await?;
            let file = pool.connect_options().get_filename().to_owned();
            let alive = Arc::new(());
            checkpoints(pool.clone(), writer.clone(), Arc::downgrade(&alive));
            SqliteStore {
                pool,
                writer,
                writer_thread: Some(WriterThread::start()?),
                declarations: Arc::default(),
                commits: Some(Arc::new(CommitProbe::new(&file))),
                _alive: Some(alive),
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool (migrations are not run); it serves reads and writes.
    pub fn from_pool(pool: sqlx::SqlitePool) -> Self {
        SqliteStore {
            writer: pool.clone(),
            pool,
            writer_thread: None,
            declarations: Arc::default(),
            commits: None,
            _alive: None,
        }
    }

    /// The current versions: those read last if nothing was committed since
    /// (see [`CommitProbe`]), else one query.
    pub(super) async fn current_data_versions(&self) -> Result<DataVersions> {
        let Some(commits) = &self.commits else {
            return self.query_data_versions().await;
        };
        // Read before the versions, so they are at least as recent as the mark.
        let mark = commits.mark();
        if let Some(known) = mark.as_ref().and_then(|m| commits.known(m)) {
            return Ok(known);
        }
        let versions = match commits.read_versions() {
            Some(read) => read,
            None => self.query_data_versions().await?,
        };
        if let Some(mark) = mark {
            commits.remember(mark, versions);
        }
        Ok(versions)
    }

    /// Writes a declaration: batched with the ones waiting when there is a
    /// writer thread (see [`DeclarationQueue`]). The inner result is the
    /// write's own, for [`IncidentStore::declare`] to interpret.
    pub(super) async fn write_declaration(
        &self,
        record: Arc<NewIncidentRecord>,
    ) -> Result<Result<Declared>> {
        if self.writer_thread.is_none() {
            let this = self.clone();
            return self
                .on_writer(async move { this.declare_in_tx(&record).await })
                .await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let start = {
            let mut state = self
                .declarations
                .state
                .lock()
                .expect("declaration queue lock");
            state.waiting.push((record, reply));
            !std::mem::replace(&mut state.draining, true)
        };
        if start {
            let this = self.clone();
            let drain: WriteJob = Box::pin(async move { this.drain_declarations().await });
            if let Some(thread) = &self.writer_thread
                && thread.jobs.send(drain).is_err()
            {
                tracing::error!(
                    "declarations could not be written: the SQLite writer thread stopped"
                );
                let mut state = self
                    .declarations
                    .state
                    .lock()
                    .expect("declaration queue lock");
                state.draining = false;
                // Their callers get an error instead of waiting forever.
                state.waiting.clear();
            }
        }
        answer.await.map_err(|_| {
            Error::Config("the SQLite writer stopped before writing the declaration".into())
        })
    }

    /// Writes queued declarations, a batch at a time, until none is waiting.
    pub(super) async fn drain_declarations(&self) {
        let _guard = DrainGuard(&self.declarations);
        loop {
            let batch: Vec<_> = {
                let mut state = self
                    .declarations
                    .state
                    .lock()
                    .expect("declaration queue lock");
                if state.waiting.is_empty() {
                    state.draining = false;
                    return;
                }
                let n = state.waiting.len().min(MAX_DECLARATION_BATCH);
                state.waiting.drain(..n).collect()
            };
            let (records, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let together = if records.iter().all(|r| Self::reads_nothing_first(r)) {
                Some(self.declare_at_once(&records).await)
            } else if records.len() > 1 {
                Some(self.declare_batch_in_tx(&records).await)
            } else {
                None
            };
            match together {
                Some(Ok(declared)) => {
                    for (reply, d) in replies.into_iter().zip(declared) {
                        let _ = reply.send(Ok(d));
                    }
                }
                // Rolled back (or never tried together): each alone, so each
                // gets its own answer.
                failed => {
                    if let Some(Err(e)) = failed {
                        tracing::debug!(error = %e, "declarations written together failed; writing them one at a time");
                    }
                    for (record, reply) in records.iter().zip(replies) {
                        let _ = reply.send(self.declare_in_tx(record).await);
                    }
                }
            }
        }
    }

    /// Runs a write transaction (on the writer thread when there is one).
    pub(super) async fn on_writer<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        match &self.writer_thread {
            Some(thread) => thread.run(work).await,
            None => Ok(work.await),
        }
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    /// The connection pool.
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }

    /// The writer's pool (one connection; the read pool when in memory).
    pub(super) fn writer_pool(&self) -> &sqlx::SqlitePool {
        &self.writer
    }
}

/// Liveness locks on a SQLite file: one lock file per instance in
/// `<database>-instances/`, locked while the process lives.
impl SqliteStore {
    fn liveness_dir(&self) -> Option<std::path::PathBuf> {
        let file = self.pool.connect_options().get_filename().to_owned();
        let name = file.file_name()?.to_string_lossy().into_owned();
        // In-memory databases (`:memory:`, sqlx's `file:sqlx-in-memory-…`) have no file beside them.
        if name.is_empty()
            || name.contains(":memory:")
            || name.starts_with("file:")
            || name.contains("sqlx-in-memory")
        {
            return None;
        }
        Some(file.with_file_name(format!("{name}-instances")))
    }

    fn liveness_file(dir: &std::path::Path, instance: &str) -> Option<std::path::PathBuf> {
        // Instance ids are ours (`instance-<uuid>`); anything else names no file.
        instance
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
            .then(|| dir.join(format!("{instance}.lock")))
    }

    pub(super) async fn take_liveness_lock(
        &self,
        instance: &str,
    ) -> Result<Option<crate::store::LivenessHold>> {
        let Some(dir) = self.liveness_dir() else {
            return Ok(None);
        };
        let Some(path) = Self::liveness_file(&dir, instance) else {
            return Ok(None);
        };
        let taken = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            std::fs::create_dir_all(&dir)?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.try_lock().map_err(std::io::Error::other)?;
            Ok(file)
        })
        .await
        .map_err(|e| Error::Unavailable(format!("liveness lock: {e}")))?;
        match taken {
            Ok(file) => Ok(Some(crate::store::LivenessHold(Box::new(file)))),
            Err(e) => {
                // Without it, others judge this instance by its heartbeat alone.
                tracing::warn!(error = %e, "could not take this instance's liveness lock");
                Ok(None)
            }
        }
    }

    /// A file lock lasts as long as its file is open.
    pub(super) async fn still_holds(_hold: &mut crate::store::LivenessHold) -> bool {
        true
    }

    pub(super) async fn free_liveness_locks(&self, others: Vec<String>) -> Result<Vec<String>> {
        let Some(dir) = self.liveness_dir() else {
            return Ok(Vec::new());
        };
        tokio::task::spawn_blocking(move || {
            others
                .into_iter()
                .filter(|id| {
                    let Some(path) = Self::liveness_file(&dir, id) else {
                        return false;
                    };
                    // A missing file says nothing (another host's instance).
                    let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else {
                        return false;
                    };
                    let free = file.try_lock().is_ok();
                    if free {
                        let _ = std::fs::remove_file(&path);
                    }
                    free
                })
                .collect()
        })
        .await
        .map_err(|e| Error::Unavailable(format!("liveness probe: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames in the WAL, as a passive checkpoint reports them.
    async fn wal_frames(store: &SqliteStore) -> i64 {
        let (_, frames, _): Checkpoint = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&store.pool)
            .await
            .expect("checkpoint");
        frames
    }

    async fn write(store: &SqliteStore, n: usize) {
        for i in 0..n {
            sqlx::query("INSERT INTO scratch (body) VALUES ($1)")
                .bind(format!("{i:>2000}"))
                .execute(&store.writer)
                .await
                .expect("insert");
        }
    }

    #[tokio::test]
    async fn a_restart_brings_the_wal_back_to_its_start_once_no_reader_holds_an_older_snapshot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("wal.db").display());
        let store = SqliteStore::connect(&url).await.expect("store");
        sqlx::query("CREATE TABLE scratch (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            .execute(&store.writer)
            .await
            .expect("table");
        write(&store, 200).await;
        let before = wal_frames(&store).await;
        assert!(before >= 200, "{before} frames");

        // A reader in the middle of a read transaction keeps an older snapshot.
        let mut reader = store.pool.acquire().await.expect("reader");
        sqlx::query("BEGIN")
            .execute(&mut *reader)
            .await
            .expect("begin");
        let _: i64 = sqlx::query_scalar("SELECT count(*) FROM scratch")
            .fetch_one(&mut *reader)
            .await
            .expect("read");
        write(&store, 1).await;
        let started = std::time::Instant::now();
        let (busy, _, _) = restart_wal(&store.writer).await.expect("restart");
        assert_eq!(busy, 1, "the reader's snapshot is still in the WAL");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "it gave up rather than hold the writer: {:?}",
            started.elapsed()
        );
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&store.writer)
            .await
            .expect("busy timeout");
        assert_eq!(timeout, 5000, "the writer waits for locks as before");

        sqlx::query("COMMIT")
            .execute(&mut *reader)
            .await
            .expect("end");
        drop(reader);
        let (busy, frames, copied) = restart_wal(&store.writer).await.expect("restart");
        assert_eq!((busy, frames), (0, copied), "everything was copied");
        write(&store, 1).await;
        let after = wal_frames(&store).await;
        assert!(
            after < 10,
            "the next commit wrote the WAL from its start: {after} frames (before: {before})"
        );
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM scratch")
            .fetch_one(&store.pool)
            .await
            .expect("count");
        assert_eq!(rows, 202, "nothing was lost");
    }
}
