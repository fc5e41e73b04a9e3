-- An upsert that only updates (an import line changing a published article) still fired the
-- insert trigger with no new rows, and `count + 0` was still a new version of the counter row:
-- every such statement locked it until commit, so concurrent import batches queued on it one
-- line at a time, and each scan of the row stepped over thousands of dead versions. A
-- statement that adds or removes no rows now leaves the counter alone.
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
    if delta <> 0 then
        update row_counts set count = count + delta where table_name = tg_table_name;
    end if;
    return null;
end
$$;
