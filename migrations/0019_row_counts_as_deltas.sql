-- The public totals of live articles, authors and tags (0003, 0004) kept as delta rows, like the
-- editors' status counts (0018): one counter row per table made every import batch wait, from
-- its insert of live copies to its commit, for the batches before it ("Lock: transactionid" on
-- `insert into live_articles` in pg_stat_activity during an import). Readers sum the rows of a
-- table; `db::kept_counts::fold` sums them into one row per table every minute.
alter table row_counts drop constraint row_counts_pkey;
-- A delta may be negative.
alter table row_counts drop constraint row_counts_count_check;
create index row_counts_table_name_idx on row_counts (table_name);

create or replace function row_counts_adjust() returns trigger
language plpgsql as $$
declare
    delta bigint;
begin
    if tg_op = 'INSERT' then
        select count(*) into delta from new_rows;
    else
        select -count(*) into delta from old_rows;
    end if;
    -- An upsert that only updated (0012) adds nothing.
    if delta <> 0 then
        insert into row_counts (table_name, count) values (tg_table_name, delta);
    end if;
    return null;
end
$$;
