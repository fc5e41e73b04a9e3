//! Waking long-polling feed readers and webhook workers when changes commit: one LISTEN
//! connection per process (`NOTIFY galley_changes`, sent by a trigger on `changes`), fanned out
//! through a watch channel, so ten idle readers cost ten parked tasks and no queries.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::PgPool;
use tokio::sync::watch;

use crate::db::notifications::{self, Notice};

const CHANNEL: &str = "galley_changes";

/// Without notifications (the connection is down, or no listener runs), waiters look again at
/// this interval instead.
const FALLBACK_POLL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct ChangeSignal {
    /// Bumped on every notification and on every reconnect (which may hide some).
    sender: Arc<watch::Sender<u64>>,
    listening: Arc<AtomicBool>,
    /// Set at shutdown: waits end at once, so long polls do not hold the drain.
    closing: Arc<AtomicBool>,
}

impl Default for ChangeSignal {
    fn default() -> Self {
        Self {
            sender: Arc::new(watch::channel(0).0),
            listening: Arc::new(AtomicBool::new(false)),
            closing: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Wakes every process's feed readers and webhook workers when `tx` commits: for work that is
/// due without a new change (a ping, a redelivery).
pub async fn wake_on_commit(tx: &mut sqlx::PgConnection) -> sqlx::Result<()> {
    sqlx::query("select pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(tx)
        .await?;
    Ok(())
}

impl ChangeSignal {
    pub fn spawn_listener(&self, db: PgPool) {
        let signal = self.clone();
        notifications::follow(db, CHANNEL, "changes", move |notice| {
            signal
                .listening
                .store(!matches!(notice, Notice::Down), Ordering::SeqCst);
            signal.sender.send_modify(|n| *n = n.wrapping_add(1));
        });
    }

    /// A handle to wait on; take it before looking, so a commit in between is not missed.
    pub fn subscribe(&self) -> Waiter {
        Waiter {
            receiver: self.sender.subscribe(),
            listening: self.listening.clone(),
            closing: self.closing.clone(),
        }
    }

    /// The server is shutting down: every wait ends now, and later ones at once.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }
}

pub struct Waiter {
    receiver: watch::Receiver<u64>,
    listening: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
}

impl Waiter {
    /// Returns when a change may have committed since the last call (or since `subscribe`),
    /// or after `at_most`, whichever is first.
    pub async fn changed(&mut self, at_most: Duration) {
        if self.closing.load(Ordering::SeqCst) {
            return;
        }
        let at_most = if self.listening.load(Ordering::SeqCst) {
            at_most
        } else {
            at_most.min(FALLBACK_POLL)
        };
        // A closed channel cannot happen while the signal lives; treat it as a wake-up.
        let _ = tokio::time::timeout(at_most, self.receiver.changed()).await;
    }
}
