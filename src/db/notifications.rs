//! Following a `NOTIFY` channel for as long as the runtime runs. PostgreSQL delivers a
//! notification on commit, to every session listening, and forgets it for sessions that are
//! not: so a follower must hear of its connection's ups and downs, to treat what it may have
//! missed as changed.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgListener};

/// What happened on the channel.
pub enum Notice {
    /// Listening (again): anything may have changed while not.
    Up,
    /// A transaction that notified committed.
    Notified,
    /// The connection was lost; `Up` follows once it is back.
    Down,
}

/// Spawns a task that listens on `channel` on a connection of `db`, reconnecting after
/// failures (backing off to 5 s), and tells `on` what happens. `what` names the follower in
/// the log.
pub fn follow(
    db: PgPool,
    channel: &'static str,
    what: &'static str,
    on: impl Fn(Notice) + Send + Sync + 'static,
) {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            match listen(&db, channel, &on).await {
                Ok(()) => delay = Duration::from_millis(100),
                Err(err) => {
                    tracing::warn!(error = %err, channel, "{what}: notification connection failed; reconnecting");
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
            tokio::time::sleep(delay).await;
        }
    });
}

/// Listens until the connection is lost; every way out after `Up` says `Down`.
async fn listen(db: &PgPool, channel: &str, on: &impl Fn(Notice)) -> sqlx::Result<()> {
    let mut listener = PgListener::connect_with(db).await?;
    listener.listen(channel).await?;
    on(Notice::Up);
    let outcome = loop {
        match listener.try_recv().await {
            Ok(Some(_)) => on(Notice::Notified),
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        }
    };
    on(Notice::Down);
    outcome
}
