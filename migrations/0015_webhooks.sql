-- Webhooks (API.md §11): endpoints, and one delivery per event and endpoint, created with the
-- change in its transaction (by the trigger below) so that an event is delivered exactly when
-- its change committed.
create table webhooks (
    id uuid primary key,
    url text not null,
    -- Event types, or `{*}` for all.
    events text[] not null check (cardinality(events) > 0),
    description text,
    enabled boolean not null default true,
    -- Why Galley disabled it (410, or failing for 5 days); null when enabled or disabled by hand.
    disabled_reason text,
    -- Signing keys (32 random bytes). Galley must sign with them, so they are kept as they are;
    -- the API shows one only once, when it is made.
    secret bytea not null,
    -- The secret before the last rotation, still signing alongside until `previous_until`.
    previous_secret bytea,
    previous_until timestamptz,
    -- Since when every attempt has failed; null after a success.
    failing_since timestamptz,
    created_by uuid references users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table webhook_deliveries (
    id bigint generated always as identity primary key,
    webhook_id uuid not null references webhooks (id) on delete cascade,
    -- The change delivered (`changes.ord`); null for a ping.
    change_ord bigint,
    -- `webhook-id`: the change's id, the same on every attempt.
    event_id uuid not null,
    event text not null,
    -- `pending` until a 2xx (`delivered`) or the last attempt (`failed`).
    state text not null default 'pending' check (state in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    -- When the next attempt is due; while an attempt runs, when its claim lapses.
    next_attempt_at timestamptz not null default now(),
    last_attempt_at timestamptz,
    last_status smallint,
    last_error text,
    last_duration_ms integer,
    -- The start of the receiver's answer (at most 1 KB).
    response_excerpt text,
    created_at timestamptz not null default now(),
    constraint webhook_deliveries_event_key unique (webhook_id, event_id)
);
-- What the worker asks: is anything of this endpoint due, and which first. Ordered within the
-- endpoint, so a claim reads exactly the rows it takes (a bitmap over every pending row took
-- 25 ms a claim with 100,000 pending).
create index webhook_deliveries_due_idx on webhook_deliveries (webhook_id, next_attempt_at)
    where state = 'pending';
create index webhook_deliveries_log_idx on webhook_deliveries (webhook_id, id);
-- Retention of changes skips those still to deliver.
create index webhook_deliveries_change_idx on webhook_deliveries (change_ord)
    where state = 'pending';

-- Fans every new change out to the enabled endpoints that want its event: one statement per
-- statement that wrote changes, however many rows.
create function webhook_fan_out() returns trigger
language plpgsql as $$
begin
    insert into webhook_deliveries (webhook_id, change_ord, event_id, event)
    select w.id, n.ord, n.id, n.event
    from new_changes n
    join webhooks w on w.enabled and (w.events = '{*}' or n.event = any(w.events));
    return null;
end
$$;
create trigger changes_webhook_fan_out after insert on changes
    referencing new table as new_changes
    for each statement execute function webhook_fan_out();
