//! The kept counts of working copies by status (migration 0018): triggers add a row of deltas
//! per statement, so writers never wait on a counter row; readers sum the rows of a status.
//! Folding them into one row per status every minute keeps that sum a handful of rows.

use std::time::Duration;

use sqlx::PgPool;

const EVERY: Duration = Duration::from_secs(60);

/// Replaces the delta rows committed so far with their sums. Rows written meanwhile are not
/// visible to the delete and stay; two processes folding at once each sum only what they
/// deleted.
pub async fn fold(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query(
        "with gone as (delete from article_status_counts returning status, count) \
         insert into article_status_counts (status, count) \
         select status, sum(count) from gone group by status having sum(count) <> 0",
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Folds every minute, for as long as the runtime runs.
pub fn spawn(db: PgPool) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            if let Err(err) = fold(&db).await {
                tracing::warn!(error = %err, "folding the status counts failed; retrying later");
            }
        }
    });
}
