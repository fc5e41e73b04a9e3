-- Idempotency keys (API.md §9): the first response to a creating or acting POST, kept so that a
-- retry with the same key replays it instead of running again. Scoped to the caller: `scope`
-- is `user:<id>` for sessions and `token:<id>` for API tokens, so two callers never share a key.
create table idempotency_keys (
    scope text not null,
    key text not null check (length(key) between 1 and 255),
    -- SHA-256 of method, path with query, and body: a different request under the same key is
    -- refused, not replayed.
    request_hash bytea not null,
    -- `running` while the first request is in flight (until `running_until`, after which a
    -- crashed process's claim may be taken over); `done` once its response is stored.
    state text not null check (state in ('running', 'done')),
    running_until timestamptz not null,
    status smallint check (status between 100 and 599),
    -- The response headers a replay repeats: content-type, location, etag, cache-control.
    headers jsonb not null default '{}',
    body bytea,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    constraint idempotency_keys_pkey primary key (scope, key),
    constraint idempotency_keys_done_has_response
        check (state = 'running' or (status is not null and body is not null))
);

-- Expired keys are deleted in passing by the requests that use keys.
create index idempotency_keys_expires_idx on idempotency_keys (expires_at);
