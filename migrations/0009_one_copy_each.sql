-- A published article stored the same bytes twice: the live copy's snapshot is the revision of
-- `live_version`, and an unchanged working copy's search vector is the live copy's. Writing,
-- compressing and logging them again was a third of an imported article's stored bytes.

-- Live copies written from now on keep no snapshot: rendering one again reads the revision of
-- its version (retention spares it). Copies published before revisions existed keep theirs.
alter table live_articles alter column snapshot drop not null;

-- While `live_version = version` the working copy's search vector is only in the live copy;
-- working-copy search already finds those rows through the live index (migration 0008).
alter table articles
    alter column search drop not null,
    alter column search drop default,
    add constraint articles_search_kept check (search is not null or live_version = version);
