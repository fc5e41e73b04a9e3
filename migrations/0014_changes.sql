-- The outbox (API.md §10-§11): one row per logical change to an article, author, tag or image,
-- written in the transaction of the change, read by the change feed and fanned out to webhooks.
-- Replaces `article_events` (0006), which recorded article changes only.
--
-- A reader must never skip a row although transactions commit out of order, and must see the
-- changes to one object in the order they happened. A number taken at insert fails both: 10
-- may commit after a reader returned 11, and a transaction that began earlier may change an
-- object after a later one did. So the numbers are taken at commit, by the deferred trigger
-- below, from the one row of `changes_clock`: its row lock is held until the commit is
-- visible, so numbers become visible in order and without gaps (a failed commit gives its
-- numbers back). Transactions that write changes thus commit one at a time for the last
-- moment of their commit (about 0.3 ms here); nothing else waits on it.
create table changes_clock (
    only_row boolean primary key default true check (only_row),
    -- The last numbers given: every change up to them has committed.
    seq bigint not null,
    public_seq bigint not null
);
insert into changes_clock (seq, public_seq) values (0, 0);

create table changes (
    -- Insertion order, which a transaction's own changes keep in `seq`.
    ord bigint generated always as identity primary key,
    tx xid8 not null default pg_current_xact_id(),
    -- Taken at commit: the order of the feed (`view=working`) and of webhook deliveries.
    seq bigint constraint changes_seq_key unique,
    -- The same for the public feed, numbered on its own so that a public reader never walks
    -- over working-copy changes.
    public_seq bigint constraint changes_public_seq_key unique,
    -- The event id: `webhook-id` of every delivery attempt.
    id uuid not null default gen_random_uuid() constraint changes_id_key unique,
    at timestamptz not null default now(),
    event text not null,
    object_type text not null check (object_type in ('article', 'author', 'tag', 'image')),
    object_id uuid not null,
    slug text,
    -- What the public feed shows: `upsert`, `delete`, or nothing (a working-copy change).
    public_op text check (public_op in ('upsert', 'delete')),
    -- Articles only: the working copy's entry of `view=working`.
    working_op text check (working_op in ('upsert', 'delete')),
    status text,
    version integer,
    actor_id uuid,
    -- `data.first_publish` of `article.published`.
    first_publish boolean,
    -- The public shape after an upsert (the live article without its body), stored as text:
    -- Galley wrote it, so PostgreSQL need not parse it.
    object json,
    purge_keys text[] not null default '{}'
);
-- The rows a committing transaction numbers.
create index changes_unnumbered_idx on changes (tx) where seq is null;
-- Retention deletes by age.
create index changes_at_idx on changes (at);

create function changes_number() returns trigger
language plpgsql as $$
declare
    base bigint;
    public_base bigint;
    counts record;
begin
    -- The trigger fires once per row at commit; the first firing numbers all the rows of the
    -- transaction (in insertion order) and says so for the others.
    if current_setting('galley.changes_numbered', true) = pg_current_xact_id()::text then
        return null;
    end if;
    perform set_config('galley.changes_numbered', pg_current_xact_id()::text, true);
    select count(*) as total, count(*) filter (where public_op is not null) as public
    into counts
    from changes where tx = pg_current_xact_id() and seq is null;
    update changes_clock set seq = seq + counts.total, public_seq = public_seq + counts.public
    returning seq - counts.total, public_seq - counts.public into base, public_base;
    update changes c set seq = base + n.i,
        public_seq = case when c.public_op is not null then public_base + n.p end
    from (select ord, row_number() over (order by ord) as i,
                 count(*) filter (where public_op is not null) over (order by ord) as p
          from changes where tx = pg_current_xact_id() and seq is null) n
    where c.ord = n.ord;
    return null;
end
$$;
create constraint trigger changes_number after insert on changes
    deferrable initially deferred for each row execute function changes_number();

-- How far retention has deleted: a cursor before these numbers has lost changes (410).
-- Apart from the clock, so that pruning never holds up a commit.
create table changes_horizon (
    only_row boolean primary key default true check (only_row),
    seq bigint not null,
    public_seq bigint not null
);
insert into changes_horizon (seq, public_seq) values (0, 0);

-- Long-polling feed readers and webhook workers wake on commit; repeats within a transaction
-- fold into one notification.
create function notify_changes() returns trigger
language plpgsql as $$
begin
    perform pg_notify('galley_changes', '');
    return null;
end
$$;
create trigger changes_notify after insert on changes
    for each statement execute function notify_changes();

drop table article_events;
