//! Writing the outbox: every change a subscriber cares about is one row of `changes`, inserted
//! in the transaction of the change (so it exists exactly when the change does), in one
//! statement however many objects changed.

use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::articles::model::{ArticleData, ArticleStatus};

crate::db::text_enum! {
    /// An event type (API.md §11): one per logical change per object.
    #[derive(ToSchema)]
    pub enum EventType {
        ArticleCreated = "article.created",
        /// The working copy changed (the live copy, if any, did not).
        ArticleUpdated = "article.updated",
        ArticleSubmitted = "article.submitted",
        ArticleScheduled = "article.scheduled",
        ArticleUnscheduled = "article.unscheduled",
        /// Went live, or its live copy was replaced (also when an embedded author, tag or image
        /// changed it); `data.first_publish` is true the first time.
        ArticlePublished = "article.published",
        ArticleUnpublished = "article.unpublished",
        ArticleArchived = "article.archived",
        ArticleRestored = "article.restored",
        ArticleDeleted = "article.deleted",
        AuthorCreated = "author.created",
        AuthorUpdated = "author.updated",
        AuthorDeleted = "author.deleted",
        TagCreated = "tag.created",
        TagUpdated = "tag.updated",
        TagDeleted = "tag.deleted",
        ImageCreated = "image.created",
        ImageUpdated = "image.updated",
        ImageDeleted = "image.deleted",
    }
}

crate::db::text_enum! {
    /// What a feed entry does to the reader's copy.
    #[derive(ToSchema)]
    pub enum Op {
        Upsert = "upsert",
        Delete = "delete",
    }
}

crate::db::text_enum! {
    /// The kinds of objects that change.
    #[derive(ToSchema)]
    pub enum ObjectType {
        Article = "article",
        Author = "author",
        Tag = "tag",
        Image = "image",
    }
}

impl ObjectType {
    /// The purge key of every list of this kind (API.md §12).
    pub fn list_key(self) -> &'static str {
        match self {
            Self::Article => "articles",
            Self::Author => "authors",
            Self::Tag => "tags",
            Self::Image => "images",
        }
    }

    /// The purge key of one object of this kind.
    pub fn key(self, id: Uuid) -> String {
        format!("{}-{id}", self.as_str())
    }
}

/// An article's change: its copy after the change (before it, for a deletion), what the
/// public sees of it, and whether it went live for the first time.
pub struct ArticleChange<'a> {
    pub data: &'a ArticleData,
    pub event: EventType,
    pub public: Option<Op>,
    pub first_publish: bool,
}

/// Writes the changes of articles saved in this transaction. The object of a public upsert is
/// the live copy's summary as this transaction left it (so `put_live` comes first).
pub async fn write_articles(
    tx: &mut PgConnection,
    changes: &[ArticleChange<'_>],
    actor: Option<Uuid>,
) -> sqlx::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut columns = ArticleColumns::default();
    for change in changes {
        columns.push(change);
    }
    sqlx::query(
        "insert into changes (event, object_type, object_id, slug, public_op, working_op, status, \
             version, actor_id, first_publish, object, purge_keys) \
         select t.event, 'article', t.id, t.slug, t.public_op, t.working_op, t.status, t.version, \
             $10, t.first_publish, case when t.public_op = 'upsert' then l.summary::json end, \
             case when t.public_op is null then '{}'::text[] \
                  else array['articles', 'article-' || t.id] end \
         from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::int[], $8::bool[], $9::int[]) \
             as t(event, id, slug, public_op, working_op, status, version, first_publish, n) \
         left join live_articles l on l.article_id = t.id and t.public_op = 'upsert' \
         order by t.n",
    )
    .bind(&columns.events)
    .bind(&columns.ids)
    .bind(&columns.slugs)
    .bind(&columns.public_ops)
    .bind(&columns.working_ops)
    .bind(&columns.statuses)
    .bind(&columns.versions)
    .bind(&columns.first_publish)
    .bind(&columns.order)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Default)]
struct ArticleColumns {
    events: Vec<EventType>,
    ids: Vec<Uuid>,
    slugs: Vec<String>,
    public_ops: Vec<Option<Op>>,
    working_ops: Vec<Op>,
    statuses: Vec<ArticleStatus>,
    versions: Vec<i32>,
    first_publish: Vec<Option<bool>>,
    order: Vec<i32>,
}

impl ArticleColumns {
    fn push(&mut self, change: &ArticleChange<'_>) {
        let data = change.data;
        self.order.push(self.ids.len() as i32);
        self.events.push(change.event);
        self.ids.push(data.id);
        self.slugs.push(data.slug.clone());
        self.public_ops.push(change.public);
        self.working_ops
            .push(if change.event == EventType::ArticleDeleted {
                Op::Delete
            } else {
                Op::Upsert
            });
        self.statuses.push(data.status);
        self.versions.push(data.version);
        self.first_publish
            .push((change.event == EventType::ArticlePublished).then_some(change.first_publish));
    }
}

/// A change to an author, tag or image: always public (they have no drafts).
pub struct ObjectChange<'a, T: Serialize> {
    pub event: EventType,
    pub kind: ObjectType,
    pub id: Uuid,
    pub slug: Option<&'a str>,
    /// The public shape after a create or update; `None` for a deletion.
    pub object: Option<&'a T>,
    pub actor: Option<Uuid>,
}

/// An author, tag or image in the public shape its changes carry.
pub trait PublicObject: Serialize {
    const KIND: ObjectType;
    fn id(&self) -> Uuid;
    fn slug(&self) -> Option<&str>;
}

/// Writes the change `event` of `object`: as it is after the change (`exists`), or as it was
/// before its deletion.
pub async fn record<T: PublicObject>(
    tx: &mut PgConnection,
    event: EventType,
    object: &T,
    exists: bool,
    actor: Option<Uuid>,
) -> sqlx::Result<()> {
    write_object(
        tx,
        ObjectChange {
            event,
            kind: T::KIND,
            id: object.id(),
            slug: object.slug(),
            object: exists.then_some(object),
            actor,
        },
    )
    .await
}

/// Writes one author, tag or image change.
pub async fn write_object<T: Serialize>(
    tx: &mut PgConnection,
    change: ObjectChange<'_, T>,
) -> sqlx::Result<()> {
    let object = change
        .object
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| sqlx::Error::Encode(e.into()))?;
    let op = if object.is_some() {
        Op::Upsert
    } else {
        Op::Delete
    };
    sqlx::query(
        "insert into changes (event, object_type, object_id, slug, public_op, actor_id, object, \
             purge_keys) values ($1, $2, $3, $4, $5, $6, $7::json, $8)",
    )
    .bind(change.event)
    .bind(change.kind)
    .bind(change.id)
    .bind(change.slug)
    .bind(op)
    .bind(change.actor)
    .bind(object)
    .bind([
        change.kind.list_key().to_owned(),
        change.kind.key(change.id),
    ])
    .execute(&mut *tx)
    .await?;
    Ok(())
}
