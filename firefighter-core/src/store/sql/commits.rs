//! Knowing, without a query, that nothing was committed to a SQLite file
//! since the [`DataVersions`] were last read.
//!
//! In WAL mode every commit, by any connection of any process, rewrites the
//! WAL-index header at the start of the `-shm` file (SQLite's file format,
//! "The WAL-Index Format"): two copies of a 48-byte structure holding the
//! last valid frame, the WAL's salts and a checksum of both. Within one WAL
//! the frame count only grows; each restart of the WAL increments the first
//! salt. So the header never takes an earlier value again, and an unchanged
//! header means no commit happened in between: the versions read after the
//! header last time are still current. Whenever the header cannot be read
//! whole and consistent (a writer between its two copies, no `-shm` file),
//! the versions are read from the database as before.
//!
//! When the header did change, the versions are read on a read-only
//! connection of the probe's own, in the caller's thread: the row is tiny,
//! and the hand-off to a pool connection's thread and back cost several
//! times the read itself (the largest part of a declaration's wait for
//! its token check, measured).

use std::path::PathBuf;
use std::sync::Mutex;

use crate::store::DataVersions;

/// The WAL-index header and the file it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark {
    /// Device and inode of the `-shm` file: a file created again is another one.
    file: (u64, u64),
    header: [u8; HEADER],
}

/// Size of one copy of the WAL-index header.
const HEADER: usize = 48;
/// Offset of `isInit` in the header (zero until SQLite initialised it).
const IS_INIT: usize = 12;

/// The `-shm` file of a database, and the versions read after its header last changed.
#[derive(Debug)]
pub(super) struct CommitProbe {
    path: PathBuf,
    database: PathBuf,
    state: Mutex<ProbeState>,
    /// Opened on first use.
    reader: Mutex<Reader>,
}

/// The probe's own connection for reading the versions.
#[derive(Debug, Default)]
enum Reader {
    #[default]
    Unopened,
    Open(rusqlite::Connection),
    /// Could not be opened at this time; tried again after [`REOPEN_AFTER`].
    Failed(std::time::Instant),
}

/// How long the pool is asked before opening the reader is tried again.
const REOPEN_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Default)]
struct ProbeState {
    /// The `-shm` file, kept open, with its device and inode.
    file: Option<(std::fs::File, (u64, u64))>,
    /// The versions read from the database after the header was `Mark`.
    known: Option<(Mark, DataVersions)>,
}

impl CommitProbe {
    /// The probe of the database file `database`.
    pub(super) fn new(database: &std::path::Path) -> CommitProbe {
        let mut name = database.as_os_str().to_owned();
        name.push("-shm");
        CommitProbe {
            path: PathBuf::from(name),
            database: database.to_owned(),
            state: Mutex::new(ProbeState::default()),
            reader: Mutex::new(Reader::Unopened),
        }
    }

    /// The versions now, read on the probe's own connection: `None` when
    /// another caller is using it, when SQLite is busy (it has no busy
    /// timeout), or when it cannot be opened; the caller then reads them
    /// from its pool.
    pub(super) fn read_versions(&self) -> Option<DataVersions> {
        let mut reader = match self.reader.try_lock() {
            Ok(reader) => reader,
            // A panic while reading leaves nothing half-done here.
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let retry = match &*reader {
            Reader::Open(_) => false,
            Reader::Unopened => true,
            Reader::Failed(at) => at.elapsed() >= REOPEN_AFTER,
        };
        if retry {
            *reader = match open_reader(&self.database) {
                Ok(c) => Reader::Open(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open a connection to read the data versions; reading them from the pool");
                    Reader::Failed(std::time::Instant::now())
                }
            };
        }
        let Reader::Open(connection) = &*reader else {
            return None;
        };
        // Any failure here (busy, most often) sends the caller to the pool,
        // whose query reports an error that lasts.
        let mut statement = connection.prepare_cached(super::DATA_VERSIONS_QUERY).ok()?;
        statement
            .query_row([], |row| {
                Ok(DataVersions {
                    data: row.get(0)?,
                    reference: row.get(1)?,
                    access: row.get(2)?,
                })
            })
            .ok()
    }

    /// The header now, if it can be read whole and both copies agree.
    pub(super) fn mark(&self) -> Option<Mark> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        read_mark(&self.path, &mut state.file)
    }

    /// The versions known for `mark`: nothing was committed since they were read.
    pub(super) fn known(&self, mark: &Mark) -> Option<DataVersions> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &state.known {
            Some((seen, versions)) if seen == mark => Some(*versions),
            _ => None,
        }
    }

    /// Records `versions`, read from the database after the header was `mark`.
    pub(super) fn remember(&self, mark: Mark, versions: DataVersions) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Versions only grow: a slower reader of an older state does not replace a newer one.
        if state
            .known
            .is_none_or(|(_, known)| known.data <= versions.data && known.access <= versions.access)
        {
            state.known = Some((mark, versions));
        }
    }
}

fn open_reader(database: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let connection = rusqlite::Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // No busy timeout: a lock held elsewhere means "ask the pool".
    connection.busy_timeout(std::time::Duration::ZERO)?;
    Ok(connection)
}

#[cfg(unix)]
fn read_mark(
    path: &std::path::Path,
    open: &mut Option<(std::fs::File, (u64, u64))>,
) -> Option<Mark> {
    use std::os::unix::fs::{FileExt as _, MetadataExt as _};
    // The file at the path now (SQLite may have deleted and created it again).
    let meta = std::fs::metadata(path).ok()?;
    let id = (meta.dev(), meta.ino());
    if open.as_ref().is_none_or(|(_, known)| *known != id) {
        let file = std::fs::File::open(path).ok()?;
        let opened = file.metadata().ok()?;
        *open = Some((file, (opened.dev(), opened.ino())));
    }
    let (file, file_id) = open.as_ref()?;
    if *file_id != id {
        return None;
    }
    let mut both = [0u8; 2 * HEADER];
    file.read_exact_at(&mut both, 0).ok()?;
    let (first, second) = both.split_at(HEADER);
    if first != second || first[IS_INIT] == 0 {
        return None;
    }
    Some(Mark {
        file: id,
        header: first.try_into().ok()?,
    })
}

#[cfg(not(unix))]
fn read_mark(_: &std::path::Path, _: &mut Option<(std::fs::File, (u64, u64))>) -> Option<Mark> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_on_the_probes_own_connection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("probe.db");
        let setup = rusqlite::Connection::open(&file).expect("create");
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE data_versions (id INTEGER PRIMARY KEY, data_version INTEGER,
                     reference_version INTEGER, access_version INTEGER);
                 INSERT INTO data_versions VALUES (1, 7, 3, 5);",
            )
            .expect("schema");
        let probe = CommitProbe::new(&file);
        let read = probe.read_versions().expect("read");
        assert_eq!((read.data, read.reference, read.access), (7, 3, 5));
        // A later commit by another connection is seen by the next read.
        setup
            .execute("UPDATE data_versions SET data_version = 8 WHERE id = 1", [])
            .expect("update");
        assert_eq!(probe.read_versions().expect("read again").data, 8);
    }

    #[test]
    fn no_reader_means_the_pool_is_asked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let probe = CommitProbe::new(&dir.path().join("missing.db"));
        assert_eq!(probe.read_versions(), None);
        // While another caller holds the reader, this one does not wait.
        let held = probe.reader.lock().expect("lock");
        assert_eq!(probe.read_versions(), None);
        drop(held);
    }
}
