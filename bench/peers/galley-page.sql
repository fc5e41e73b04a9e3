-- Galley's own statement for the same page with the cache off (src/articles/listing.rs,
-- list_live with include=body): 21 stored documents, newest first. pgbench runs it as the
-- ceiling of Galley's design, beside the normalized statement in node-pg/page.sql.
select l.article_id, l.published_at, l.updated_at, l.created_at, l.title, l.rank, l.matches,
    l.purge_keys, l.document as json
from (select l.*, 0::real as rank, null::bigint as matches from live_articles l) l
where true
order by l.published_at desc, l.article_id desc
limit 21
