-- Bodies and snapshots are written whole by Galley and read whole by Galley: as json they are
-- checked but not converted to and from jsonb's binary form, which cost a tenth of the
-- database's work per save and most of its work reading bodies back.
alter table articles
    drop constraint articles_body_check,
    alter column body drop default,
    alter column body type json using body::json,
    alter column body set default '[]'::json,
    add constraint articles_body_check check (json_typeof(body) = 'array');
alter table live_articles alter column snapshot type json using snapshot::json;
alter table article_revisions alter column snapshot type json using snapshot::json;

-- An import writes tens of kilobytes of text per published article (body, live JSON, snapshots,
-- search vectors). Compressing them with pglz was a fifth of PostgreSQL's time per article;
-- lz4 compresses several times faster at a similar ratio. Applies to values written from now on.
alter table articles
    alter column body set compression lz4,
    alter column search set compression lz4,
    -- Search terms are built from the body in Galley; the stored copy was never read.
    drop column plaintext;
alter table live_articles
    alter column search set compression lz4,
    alter column snapshot set compression lz4,
    alter column summary set compression lz4,
    alter column document set compression lz4;
alter table article_revisions
    alter column snapshot set compression lz4;

-- A published article whose working copy has not changed since has the same search vector in
-- both tables (the live copy takes the working copy's); indexing it twice was a fifth of an
-- imported article's database work. Working-copy search finds those through the live copy's
-- index instead (`live_version = version` holds exactly while that is so).
drop index articles_search_idx;
create index articles_search_idx on articles using gin (search)
    where live_version is distinct from version;
