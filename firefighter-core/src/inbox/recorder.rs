//! Where inbox items are recorded: a group-commit writer per database and
//! source, and on a SQLite file the journal in front of it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use super::NewInboxItem;
use super::journal::Journal;
use crate::store::{DatabasePool, Store};
use crate::{Error, Result};

/// Items inserted per transaction at most.
const GROUP: usize = 500;

type Answer = std::result::Result<(), String>;

/// One item waiting for the writer.
struct Pending {
    item: NewInboxItem,
    done: oneshot::Sender<Answer>,
}

/// The writer of one source's items, and its journal when there is one.
pub(super) struct Recorder {
    sender: mpsc::UnboundedSender<Pending>,
    journal: Option<Arc<Journal>>,
}

/// The recorders of this process per SQLite file and source: every inbox
/// built on the same file (the routes, the event handler, each task) shares
/// the journal and its writer, where a second one would find the journal
/// locked by the first and take it for another instance.
static RECORDERS: LazyLock<tokio::sync::Mutex<Recorders>> = LazyLock::new(Default::default);

/// Recorders by database file and source.
type Recorders = HashMap<(PathBuf, String), Weak<Recorder>>;

impl Recorder {
    /// The recorder for `source` on the store's database: the one this
    /// process already runs on the same SQLite file, or a new one.
    pub(super) async fn shared(store: Arc<dyn Store>, source: &str) -> Result<Arc<Recorder>> {
        let Some(file) = database_file(store.as_ref()) else {
            return Recorder::start(store, source, None).await.map(Arc::new);
        };
        // Held while opening, so two inboxes starting at once share one.
        let mut recorders = RECORDERS.lock().await;
        let key = (file, source.to_owned());
        if let Some(shared) = recorders.get(&key).and_then(Weak::upgrade) {
            return Ok(shared);
        }
        let recorder = Arc::new(Recorder::start(store, source, Some(&key.0)).await?);
        recorders.retain(|_, r| r.strong_count() > 0);
        recorders.insert(key, Arc::downgrade(&recorder));
        Ok(recorder)
    }

    async fn start(
        store: Arc<dyn Store>,
        source: &str,
        file: Option<&std::path::Path>,
    ) -> Result<Recorder> {
        let journal = match file {
            Some(file) => open_journal(store.as_ref(), source, file).await?,
            None => None,
        };
        let sender = start_writer(store, source.to_owned(), journal.clone())?;
        Ok(Recorder { sender, journal })
    }

    pub(super) fn journaled(&self) -> bool {
        self.journal.is_some()
    }

    /// Records `item`. Behind a journal, answers as soon as the line is
    /// written, with the receiver telling when the item is in the table;
    /// otherwise answers once it is in the table.
    pub(super) async fn record(
        &self,
        item: NewInboxItem,
    ) -> Result<Option<oneshot::Receiver<Answer>>> {
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            item: item.clone(),
            done,
        };
        if let Some(journal) = &self.journal {
            // Durable once the line is written; the table follows.
            journal
                .append(&item, || self.sender.send(pending).is_ok())
                .map_err(|e| {
                    Error::Unavailable(format!("the request could not be recorded: {e}"))
                })?;
            return Ok(Some(answer));
        }
        let stopped = || Error::Unavailable("the inbox writer has stopped".into());
        self.sender.send(pending).map_err(|_| stopped())?;
        match answer.await.map_err(|_| stopped())? {
            Ok(()) => Ok(None),
            Err(e) => Err(Error::Unavailable(format!(
                "the request could not be recorded: {e}"
            ))),
        }
    }
}

/// The group-commit writer: inserts everything waiting, answers each
/// caller. Behind a journal a failed insert is tried again until it
/// succeeds: those items were acknowledged already.
async fn write_loop(
    store: Arc<dyn Store>,
    source: String,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    journal: Option<Arc<Journal>>,
) {
    let mut batch = Vec::with_capacity(GROUP);
    while rx.recv_many(&mut batch, GROUP).await > 0 {
        let items: Vec<NewInboxItem> = batch.iter().map(|p| p.item.clone()).collect();
        let mut wait = Duration::from_millis(50);
        let result = loop {
            match store.insert_inbox_items(&source, &items, Utc::now()).await {
                Ok(()) => break Ok(()),
                Err(e) if journal.is_some() => {
                    tracing::error!(source, error = %e, count = items.len(),
                        "could not move inbox items from the journal to the database; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(source, error = %e, count = items.len(), "could not record inbox items");
                    break Err(e.to_string());
                }
            }
        };
        if let Some(journal) = &journal {
            journal.stored(items.len());
        }
        for p in batch.drain(..) {
            let _ = p.done.send(result.clone());
        }
    }
}

/// Starts the writer. On SQLite it gets a thread and a runtime of its own
/// (as the store's writer does): each statement's answer resumes it at
/// once instead of waiting behind every request the application's runtime
/// is handling. PostgreSQL connections stay on the application's runtime.
fn start_writer(
    store: Arc<dyn Store>,
    source: String,
    journal: Option<Arc<Journal>>,
) -> Result<mpsc::UnboundedSender<Pending>> {
    let (tx, rx) = mpsc::unbounded_channel();
    if !matches!(store.database(), Some(DatabasePool::Sqlite(_))) {
        tokio::spawn(write_loop(store, source, rx, journal));
        return Ok(tx);
    }
    let cannot =
        |e: std::io::Error| Error::Unavailable(format!("cannot start the inbox writer: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(cannot)?;
    // Ends when the last sender (the recorder) is dropped.
    std::thread::Builder::new()
        .name(format!("ff-inbox-{source}"))
        .spawn(move || runtime.block_on(write_loop(store, source, rx, journal)))
        .map_err(cannot)?;
    Ok(tx)
}

/// The database file behind the store, when it is a SQLite file (not in memory).
fn database_file(store: &dyn Store) -> Option<PathBuf> {
    let Some(DatabasePool::Sqlite(pool)) = store.database() else {
        return None;
    };
    let name = pool.connect_options().get_filename().to_owned();
    // In-memory databases are named `file:sqlx-in-memory-N` (or nothing):
    // no file to sit beside, and nothing survives the process anyway.
    let text = name.to_string_lossy();
    if text.is_empty() || text == ":memory:" || text.starts_with("file:") {
        return None;
    }
    Some(std::fs::canonicalize(&name).unwrap_or(name))
}

/// Opens the journal of `source` beside the SQLite file, and puts what a
/// previous process left in it into the table. `None` when another
/// instance holds it (items are then recorded straight in the table).
async fn open_journal(
    store: &dyn Store,
    source: &str,
    file: &std::path::Path,
) -> Result<Option<Arc<Journal>>> {
    let path = Journal::path_for(file, source);
    let unavailable = |e: std::io::Error| {
        Error::Unavailable(format!(
            "cannot open the inbox journal {}: {e}",
            path.display()
        ))
    };
    let opened = tokio::task::spawn_blocking({
        let path = path.clone();
        move || Journal::open(&path)
    })
    .await
    .map_err(|e| Error::Unavailable(format!("cannot open the inbox journal: {e}")))?
    .map_err(unavailable)?;
    let Some((journal, leftovers)) = opened else {
        tracing::warn!(path = %path.display(),
            "the inbox journal is held by another instance; recording straight in the database");
        return Ok(None);
    };
    if !leftovers.rows.is_empty() {
        // Due and leased to nobody, a minute back, so the replay running now takes them.
        let at = Utc::now() - chrono::Duration::minutes(1);
        let items: Vec<NewInboxItem> = leftovers
            .rows
            .into_iter()
            .map(|item| NewInboxItem {
                claimed_until: at,
                ..item
            })
            .collect();
        store.insert_inbox_items(source, &items, at).await?;
        tracing::info!(source, count = items.len(), path = %journal.path().display(),
            "inbox items left in the journal by a previous process are queued for the replay");
    }
    journal.clear_leftovers().map_err(unavailable)?;
    Ok(Some(Arc::new(journal)))
}
