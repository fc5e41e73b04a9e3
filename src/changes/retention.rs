//! Forgetting old changes: after `GALLEY_CHANGES_RETENTION_DAYS` a change leaves the feed (a
//! cursor from before is answered `410`), unless a webhook delivery still needs it (a pending
//! retry, or an enabled endpoint's cursor not yet past it); finished deliveries leave the log
//! at the same age.

use std::time::Duration;

use sqlx::PgPool;

/// Rows deleted per statement, so that pruning a large backlog never holds a long transaction.
const BATCH: i64 = 10_000;
const EVERY: Duration = Duration::from_secs(3600);

/// Deletes what is past `retention`; how many changes went.
pub async fn prune(db: &PgPool, retention: Duration) -> sqlx::Result<u64> {
    let mut total = 0;
    loop {
        let deleted: i64 = sqlx::query_scalar(
            "with gone as ( \
                 delete from changes c where c.ord in ( \
                     select ord from changes c where c.at < now() - $1 and c.seq is not null \
                         and c.seq <= coalesce((select min(cursor_seq) from webhooks \
                             where enabled), c.seq) \
                         and not exists (select 1 from webhook_deliveries d \
                             where d.change_ord = c.ord and d.state = 'pending') \
                     limit $2) \
                 returning c.seq, c.public_seq), \
             moved as ( \
                 update changes_horizon h set \
                     seq = greatest(h.seq, coalesce((select max(seq) from gone), 0)), \
                     public_seq = greatest(h.public_seq, \
                         coalesce((select max(public_seq) from gone), 0)) \
                 returning 1) \
             select count(*) from gone, (select count(*) from moved) m",
        )
        .bind(retention)
        .bind(BATCH)
        .fetch_one(db)
        .await?;
        total += deleted as u64;
        if deleted < BATCH {
            break;
        }
    }
    sqlx::query(
        "delete from webhook_deliveries where state <> 'pending' and created_at < now() - $1",
    )
    .bind(retention)
    .execute(db)
    .await?;
    Ok(total)
}

/// Prunes every hour, from start, for as long as the runtime runs.
pub fn spawn(db: PgPool, retention: Duration) {
    tokio::spawn(async move {
        loop {
            match prune(&db, retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(changes = n, "changes past retention deleted"),
                Err(err) => {
                    tracing::warn!(error = %err, "pruning old changes failed; retrying later")
                }
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}
