//! Counts kept by triggers as rows of deltas: the public totals of live articles, authors and
//! tags (`row_counts`, migrations 0003 and 0019) and the working copies by status
//! (`article_status_counts`, 0018). A writer inserts its statement's change and locks nothing;
//! readers sum the rows of what they count. Folding them into one row each every minute keeps
//! that sum a handful of rows.

use std::time::Duration;

use sqlx::PgPool;

const EVERY: Duration = Duration::from_secs(60);

/// The statement reading the kept total of `table` (`live_articles`, `authors`, `tags`): one
/// `bigint`, zero when no row is kept yet.
macro_rules! row_count {
    ($table:literal) => {
        concat!(
            "select coalesce(sum(count), 0)::bigint from row_counts where table_name = '",
            $table,
            "'"
        )
    };
}
pub(crate) use row_count;

/// Replaces the delta rows committed so far with their sums. Rows written meanwhile are not
/// visible to the deletes and stay; two processes folding at once each sum only what they
/// deleted.
pub async fn fold(db: &PgPool) -> sqlx::Result<()> {
    for sql in [
        "with gone as (delete from row_counts returning table_name, count) \
         insert into row_counts (table_name, count) \
         select table_name, sum(count) from gone group by table_name having sum(count) <> 0",
        "with gone as (delete from article_status_counts returning status, count) \
         insert into article_status_counts (status, count) \
         select status, sum(count) from gone group by status having sum(count) <> 0",
    ] {
        sqlx::query(sql).execute(db).await?;
    }
    Ok(())
}

/// Folds every minute, for as long as the runtime runs.
pub fn spawn(db: PgPool) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            if let Err(err) = fold(&db).await {
                tracing::warn!(error = %err, "folding the kept counts failed; retrying later");
            }
        }
    });
}
