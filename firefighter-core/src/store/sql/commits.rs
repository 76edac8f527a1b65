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
    state: Mutex<ProbeState>,
}

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
            state: Mutex::new(ProbeState::default()),
        }
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
