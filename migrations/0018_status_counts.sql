-- Working copies by status, counted as they change: the editors' list (`view=working`, with or
-- without a `status` filter) answers `meta.total` from here. Counting a million working copies
-- per page was most of that page's time (the page itself reads 21 rows).
create table article_status_counts (
    status text primary key,
    count bigint not null check (count >= 0)
);
insert into article_status_counts (status, count)
select s.status, count(a.id)
from unnest(array['draft', 'in_review', 'scheduled', 'published', 'archived']) s(status)
left join articles a on a.status = s.status
group by s.status;

-- Statement-level with transition tables, as `row_counts_adjust` (0003, 0012): one counter
-- update per status a statement changes, none for the saves that keep every status (most).
create function article_status_counts_adjust() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        update article_status_counts c set count = c.count + d.delta
        from (select status, count(*) as delta from new_rows group by status) d
        where c.status = d.status;
    elsif tg_op = 'DELETE' then
        update article_status_counts c set count = c.count - d.delta
        from (select status, count(*) as delta from old_rows group by status) d
        where c.status = d.status;
    else
        update article_status_counts c set count = c.count + d.delta
        from (
            select status, sum(delta) as delta from (
                select n.status, 1 as delta from new_rows n join old_rows o using (id)
                where n.status <> o.status
                union all
                select o.status, -1 from new_rows n join old_rows o using (id)
                where n.status <> o.status
            ) changed group by status
        ) d
        where c.status = d.status and d.delta <> 0;
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
