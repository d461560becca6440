//! Live updates across instances (DESIGN §8): Postgres LISTEN/NOTIFY fanned out to SSE clients.
//!
//! A transaction that changes a queue calls `announce`; the notification fires on commit. Every
//! instance holds one `PgListener` and forwards visit ids into `AppState::board`; there one feed per
//! watched visit reloads its snapshot once per burst of notifications for all its SSE clients.

use futures_util::future::BoxFuture;
use sqlx::postgres::PgListener;
use sqlx::{PgExecutor, PgPool};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The Postgres channel whose payload is a visit id.
pub const CHANNEL: &str = "xiafang_board";

/// What the listener forwards to the SSE clients of this instance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Signal {
    /// A queue of this visit changed.
    Visit(i64),
    /// Notifications may have been lost (the listener reconnected): every board recomputes.
    All,
    /// The instance shuts down: end every stream, or graceful shutdown would wait for them forever.
    Closing,
}

/// This instance's fan-out: the signals from the listener, and one shared feed per visit that has
/// SSE clients, so that a change costs one reload per instance however many boards watch it.
pub struct Hub {
    signals: broadcast::Sender<Signal>,
    feeds: Mutex<HashMap<i64, Arc<watch::Sender<Arc<Snapshot>>>>>,
    /// Held while a feed starts: a hall of screens connecting at once loads the board once, not once each.
    starting: tokio::sync::Mutex<()>,
}

pub type Bus = Arc<Hub>;

/// A board as sent to the clients, serialised once.
pub struct Snapshot {
    pub version: i64,
    /// What a change is judged by (the rooms without the version): equal keys send nothing.
    pub key: String,
    pub json: String,
}

/// How a feed loads the current snapshot of a visit (the consult stage's board).
pub type Load = fn(PgPool, i64) -> BoxFuture<'static, sqlx::Result<Snapshot>>;

pub fn bus() -> Bus {
    // Slow receivers lag and then simply reload.
    Arc::new(Hub {
        signals: broadcast::channel(256).0,
        feeds: Mutex::default(),
        starting: Default::default(),
    })
}

impl Hub {
    pub fn send(&self, signal: Signal) {
        let _ = self.signals.send(signal);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    /// The live board of a visit: the current state now, then every change.
    pub async fn watch(
        self: &Arc<Self>,
        db: &PgPool,
        visit_id: i64,
        load: Load,
    ) -> sqlx::Result<watch::Receiver<Arc<Snapshot>>> {
        let running = || {
            self.feeds
                .lock()
                .unwrap()
                .get(&visit_id)
                .map(|feed| feed.subscribe())
        };
        if let Some(rx) = running() {
            return Ok(rx);
        }
        let _one_at_a_time = self.starting.lock().await;
        if let Some(rx) = running() {
            return Ok(rx);
        }
        // Subscribe before loading, so that no change falls between the first state and the feed.
        let signals = self.subscribe();
        let board = load(db.clone(), visit_id).await?;
        let (tx, rx) = watch::channel(Arc::new(board));
        let tx = Arc::new(tx);
        self.feeds.lock().unwrap().insert(visit_id, tx.clone());
        tokio::spawn(feed(self.clone(), db.clone(), visit_id, tx, signals, load));
        Ok(rx)
    }
}

/// Reload a visit's board after each change while anyone watches it. When the last client is gone,
/// the instance shuts down or a reload fails, the feed ends and its clients' streams end with it
/// (a browser then reconnects and gets the full state).
async fn feed(
    hub: Bus,
    db: PgPool,
    visit_id: i64,
    tx: Arc<watch::Sender<Arc<Snapshot>>>,
    mut signals: broadcast::Receiver<Signal>,
    load: Load,
) {
    loop {
        tokio::select! {
            alive = changed(&mut signals, visit_id) => {
                if !alive {
                    break;
                }
                match load(db.clone(), visit_id).await {
                    Ok(board) => {
                        tx.send_if_modified(|current| {
                            let new = current.key != board.key;
                            if new {
                                *current = Arc::new(board);
                            }
                            new
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "board: reload failed");
                        break;
                    }
                }
            }
            _ = tx.closed() => {
                if tx.receiver_count() == 0 && hub.feeds.lock().unwrap().remove(&visit_id).is_some() {
                    return;
                }
            }
        }
    }
    let mut feeds = hub.feeds.lock().unwrap();
    if feeds.get(&visit_id).is_some_and(|f| Arc::ptr_eq(f, &tx)) {
        feeds.remove(&visit_id);
    }
}

/// Tell every instance's boards that a queue of `visit_id` changed. Call it inside the
/// transaction that changes the queue: Postgres delivers the notification on commit only.
pub async fn announce<'e>(db: impl PgExecutor<'e>, visit_id: i64) -> sqlx::Result<()> {
    // Not `query!`: pg_notify returns void, which the macro cannot type.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(visit_id.to_string())
        .execute(db)
        .await?;
    Ok(())
}

/// Wait for a change of `visit_id`; false when the bus is gone. Signals already queued behind it are
/// drained, so a burst of calls costs one recomputation.
pub async fn changed(rx: &mut broadcast::Receiver<Signal>, visit_id: i64) -> bool {
    loop {
        match rx.recv().await {
            Ok(Signal::Visit(v)) if v != visit_id => continue,
            Ok(Signal::Closing) | Err(broadcast::error::RecvError::Closed) => return false,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
        }
    }
    loop {
        match rx.try_recv() {
            Ok(Signal::Closing) => return false,
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(_) => return true,
        }
    }
}

/// Start listening (awaited, so that a board served right after start-up misses nothing), then
/// forward notifications into `bus` until the pool closes, re-subscribing after any failure.
pub async fn start_listener(pool: PgPool, bus: Bus) -> tokio::task::JoinHandle<()> {
    let first = subscribe(&pool)
        .await
        .map_err(|e| tracing::warn!(error = %e, "board listener: not yet listening"))
        .ok();
    tokio::spawn(forward(pool, bus, first))
}

async fn forward(pool: PgPool, bus: Bus, mut listener: Option<PgListener>) {
    loop {
        let Some(l) = listener.as_mut() else {
            if pool.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            match subscribe(&pool).await {
                Ok(l) => {
                    listener = Some(l);
                    // Whatever was announced while we were deaf is shown now.
                    bus.send(Signal::All);
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => tracing::warn!(error = %e, "board listener: reconnect failed"),
            }
            continue;
        };
        match l.try_recv().await {
            Ok(Some(n)) => match n.payload().parse() {
                Ok(id) => {
                    bus.send(Signal::Visit(id));
                }
                Err(_) => tracing::warn!(
                    payload = n.payload(),
                    "board listener: payload is not a visit id"
                ),
            },
            // The connection dropped and PgListener reconnected: notifications in between are lost.
            Ok(None) => {
                bus.send(Signal::All);
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "board listener failed; re-subscribing");
                listener = None;
            }
        }
    }
}

async fn subscribe(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
