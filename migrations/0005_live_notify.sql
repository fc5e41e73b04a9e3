-- Every process keeps anonymous reads in memory (src/http/live_cache.rs) and must forget them
-- when anything the public can read changes, whoever changed it: another `galley serve`, the
-- scheduler, the CLI, or someone at psql. A statement-level trigger per public table notifies
-- in the writing transaction; PostgreSQL delivers on commit (never for a rollback) and folds
-- repeats within a transaction into one notification.
create function notify_live_change() returns trigger
language plpgsql as $$
begin
    perform pg_notify('galley_live', '');
    return null;
end
$$;

create trigger live_articles_notify after insert or update or delete or truncate on live_articles
    for each statement execute function notify_live_change();
create trigger authors_notify after insert or update or delete or truncate on authors
    for each statement execute function notify_live_change();
create trigger tags_notify after insert or update or delete or truncate on tags
    for each statement execute function notify_live_change();
create trigger images_notify after insert or update or delete or truncate on images
    for each statement execute function notify_live_change();
