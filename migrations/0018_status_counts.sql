-- Working copies by status, counted as they change: the editors' list (`view=working`, with or
-- without a `status` filter) answers `meta.total` from here. Counting a million working copies
-- per page was most of that page's time (the page itself reads 21 rows).
--
-- Rows are deltas, summed when read: a writer inserts its statement's changes and locks
-- nothing. Updating one counter row per status made every import batch wait, from its insert
-- of articles to its commit, for the batches before it (100,000 new lines: 2,086 lines/s
-- without the counter, 1,349–1,422 with it, row-level or statement-level alike).
-- `articles::status_counts::fold` sums the rows into one per status every minute.
create table article_status_counts (
    status text not null,
    count bigint not null
);
create index article_status_counts_status_idx on article_status_counts (status);
insert into article_status_counts (status, count)
select status, count(*) from articles group by status;

-- Statement-level with transition tables (as `row_counts_adjust`, 0003): one row per status a
-- statement changes; a save that keeps every status writes nothing.
create function article_status_counts_adjust() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into article_status_counts (status, count)
        select status, count(*) from new_rows group by status;
    elsif tg_op = 'DELETE' then
        insert into article_status_counts (status, count)
        select status, -count(*) from old_rows group by status;
    else
        insert into article_status_counts (status, count)
        select status, sum(delta) from (
            select n.status, 1 as delta from new_rows n join old_rows o using (id)
            where n.status <> o.status
            union all
            select o.status, -1 from new_rows n join old_rows o using (id)
            where n.status <> o.status
        ) changed
        group by status
        having sum(delta) <> 0;
    end if;
    return null;
end
$$;

create trigger articles_status_count_insert after insert on articles
    referencing new table as new_rows
    for each statement execute function article_status_counts_adjust();
create trigger articles_status_count_update after update on articles
    referencing old table as old_rows new table as new_rows
    for each statement execute function article_status_counts_adjust();
create trigger articles_status_count_delete after delete on articles
    referencing old table as old_rows
    for each statement execute function article_status_counts_adjust();
