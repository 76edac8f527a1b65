//! The inbox journal: on a SQLite file, an inbound request is made durable
//! by appending one line to a file beside the database, and only then
//! acknowledged. The recorder moves the lines into the `inbox` table
//! afterwards, and empties the file whenever every line it holds is in the
//! table. One journal per source (`<database>-<source>-submissions`).
//!
//! Why a file: appending a line costs microseconds on the request's own
//! thread, whereas a SQLite commit needs hand-offs between threads that,
//! on a busy machine, each wait for a turn on a core. A line written by
//! `write(2)` survives a crash of the process, as a SQLite commit does with
//! `synchronous=NORMAL`; neither survives a power cut.
//!
//! On start the lines left by a previous process are put in the table
//! (ignored if already there) before anything new is appended. A last line
//! cut short was never acknowledged and is dropped; any other unreadable
//! line is kept in a copy of the file for a person to look at.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::NewInboxItem;

/// The append-only file where inbound requests wait for the table.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    state: Mutex<JournalFile>,
}

#[derive(Debug)]
struct JournalFile {
    file: File,
    /// Bytes in the file.
    len: u64,
    /// Lines appended since the file was last emptied.
    appended: u64,
    /// Of those, lines now in the table.
    stored: u64,
}

/// What a previous process left in the journal.
#[derive(Debug, Default)]
pub(crate) struct Leftovers {
    /// Requests to put in the table.
    pub rows: Vec<NewInboxItem>,
    /// Unreadable lines (kept in the copy named in the log).
    pub unreadable: usize,
}

impl Journal {
    /// The journal's path for the inbox of `source` on the database file
    /// `database` (the path earlier versions gave it).
    pub(crate) fn path_for(database: &Path, source: &str) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(format!("-{source}-submissions"));
        PathBuf::from(name)
    }

    /// Opens (creating) and locks the journal, and reads what it holds.
    /// `Ok(None)` when another process or instance holds it.
    pub(crate) fn open(path: &Path) -> io::Result<Option<(Journal, Leftovers)>> {
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let leftovers = parse(&bytes);
        if leftovers.unreadable > 0 {
            let copy = unreadable_copy_path(path);
            std::fs::write(&copy, &bytes)?;
            tracing::error!(path = %copy.display(), lines = leftovers.unreadable,
                "unreadable lines in an inbox journal; the file is kept there");
        }
        let len = bytes.len() as u64;
        Ok(Some((
            Journal {
                path: path.to_owned(),
                state: Mutex::new(JournalFile {
                    file,
                    len,
                    appended: 0,
                    stored: 0,
                }),
            },
            leftovers,
        )))
    }

    /// Where the journal is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Empties the journal once its leftovers are in the table.
    pub(crate) fn clear_leftovers(&self) -> io::Result<()> {
        let mut state = self.state.lock().expect("journal lock");
        state.file.set_len(0)?;
        state.len = 0;
        state.appended = 0;
        state.stored = 0;
        Ok(())
    }

    /// Appends `row`, then calls `hand_over` (still holding the journal,
    /// so the recorder's count matches the file). When the line cannot be
    /// written whole or `hand_over` refuses it, the line is cut off again
    /// and the submission is not recorded.
    pub(crate) fn append(
        &self,
        row: &NewInboxItem,
        hand_over: impl FnOnce() -> bool,
    ) -> io::Result<()> {
        let mut line = serde_json::to_vec(row).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut state = self.state.lock().expect("journal lock");
        let before = state.len;
        let written = state.file.write_all(&line);
        if let Err(e) = written {
            // A torn line in the middle would hide the lines after it.
            let _ = state.file.set_len(before);
            return Err(e);
        }
        if !hand_over() {
            state.file.set_len(before)?;
            return Err(io::Error::other("the recorder has stopped"));
        }
        state.len += line.len() as u64;
        state.appended += 1;
        Ok(())
    }

    /// Counts `count` lines as in the table; empties the file when all are.
    pub(crate) fn stored(&self, count: usize) {
        let mut state = self.state.lock().expect("journal lock");
        state.stored += count as u64;
        if state.stored >= state.appended {
            match state.file.set_len(0) {
                Ok(()) => {
                    state.len = 0;
                    state.appended = 0;
                    state.stored = 0;
                }
                // Harmless: the lines are replayed into the table (ignored there) on the next start.
                Err(e) => {
                    tracing::warn!(error = %e, "could not empty an inbox journal")
                }
            }
        }
    }
}

fn unreadable_copy_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".unreadable-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S")
    ));
    PathBuf::from(name)
}

/// The lines of a journal. A last line without its newline was being
/// written when the process stopped (never acknowledged): dropped.
fn parse(bytes: &[u8]) -> Leftovers {
    let mut leftovers = Leftovers::default();
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => &bytes[..=end],
        None => &[][..],
    };
    if complete.len() < bytes.len() {
        tracing::warn!(
            bytes = bytes.len() - complete.len(),
            "an inbox journal line was cut short (never acknowledged); dropped"
        );
    }
    for line in complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<NewInboxItem>(line) {
            Ok(row) => leftovers.rows.push(row),
            Err(e) => {
                tracing::error!(error = %e, "unreadable inbox journal line");
                leftovers.unreadable += 1;
            }
        }
    }
    leftovers
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn row(n: u8) -> NewInboxItem {
        NewInboxItem {
            id: Uuid::from_bytes([n; 16]),
            kind: "update".into(),
            payload: format!("{{\"n\":{n}}}"),
            actor: "UJANE".into(),
            claim_token: Uuid::new_v4(),
            claimed_until: Utc::now(),
            claim_owner: None,
        }
    }

    fn ids(rows: &[NewInboxItem]) -> Vec<Uuid> {
        rows.iter().map(|r| r.id).collect()
    }

    #[test]
    fn a_line_of_an_earlier_version_naming_the_slack_user_is_read() {
        let line = format!(
            "{{\"id\":\"{}\",\"kind\":\"update\",\"payload\":\"{{}}\",\"slack_user\":\"UJANE\",\"claim_token\":\"{}\",\"claimed_until\":\"2026-12-01T10:00:00Z\"}}\n",
            Uuid::from_bytes([7; 16]),
            Uuid::new_v4()
        );
        let leftovers = parse(line.as_bytes());
        assert_eq!(leftovers.rows.len(), 1);
        assert_eq!(leftovers.rows[0].actor, "UJANE");
    }

    #[test]
    fn lines_appended_and_not_stored_are_found_by_the_next_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = Journal::path_for(&dir.path().join("ff.db"), "slack");
        assert!(path.ends_with("ff.db-slack-submissions"));
        {
            let (journal, leftovers) = Journal::open(&path).unwrap().unwrap();
            assert!(leftovers.rows.is_empty());
            for n in 1..=3 {
                journal.append(&row(n), || true).unwrap();
            }
            // One of the three reached the table: the file keeps all three.
            journal.stored(1);
        }
        let (_journal, leftovers) = Journal::open(&path).unwrap().unwrap();
        assert_eq!(ids(&leftovers.rows), ids(&[row(1), row(2), row(3)]));
        assert_eq!(leftovers.rows[0].payload, "{\"n\":1}");
    }

    #[test]
    fn the_file_is_emptied_once_every_line_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (journal, _) = Journal::open(&path).unwrap().unwrap();
        journal.append(&row(1), || true).unwrap();
        journal.append(&row(2), || true).unwrap();
        journal.stored(1);
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
        journal.stored(1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        journal.append(&row(3), || true).unwrap();
        drop(journal);
        let (_, leftovers) = Journal::open(&path).unwrap().unwrap();
        assert_eq!(ids(&leftovers.rows), vec![row(3).id]);
    }

    #[test]
    fn a_refused_hand_over_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (journal, _) = Journal::open(&path).unwrap().unwrap();
        journal.append(&row(1), || true).unwrap();
        assert!(journal.append(&row(2), || false).is_err());
        drop(journal);
        let (_, leftovers) = Journal::open(&path).unwrap().unwrap();
        assert_eq!(ids(&leftovers.rows), vec![row(1).id]);
    }

    #[test]
    fn a_second_opener_is_told_the_journal_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let first = Journal::open(&path).unwrap();
        assert!(first.is_some());
        assert!(Journal::open(&path).unwrap().is_none());
        drop(first);
        assert!(Journal::open(&path).unwrap().is_some());
    }

    #[test]
    fn a_line_cut_short_is_dropped_and_unreadable_lines_are_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let mut bytes = serde_json::to_vec(&row(1)).unwrap();
        bytes.extend_from_slice(b"\nnot json\n");
        bytes.extend_from_slice(&serde_json::to_vec(&row(2)).unwrap());
        bytes.extend_from_slice(b"\n{\"id\":\"0101");
        std::fs::write(&path, &bytes).unwrap();
        let (journal, leftovers) = Journal::open(&path).unwrap().unwrap();
        assert_eq!(ids(&leftovers.rows), ids(&[row(1), row(2)]));
        assert_eq!(leftovers.unreadable, 1);
        let copies: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("journal.unreadable-"))
            .collect();
        assert_eq!(copies.len(), 1, "{copies:?}");
        assert_eq!(std::fs::read(dir.path().join(&copies[0])).unwrap(), bytes);
        journal.clear_leftovers().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
