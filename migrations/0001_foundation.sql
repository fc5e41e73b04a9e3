-- Authors and tags, and accounts: users, their login sessions, API tokens for scripts and frontends, and the
-- failed-login ledger that throttles password guessing.

create table authors (
    id uuid primary key,
    -- Addressed by slug in URLs, so the slug rule lives here too: whatever writes a row (API,
    -- import, a hand-run script) cannot store an unroutable slug.
    slug text not null constraint authors_slug_format
        check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(slug) <= 200),
    name text not null check (char_length(name) between 1 and 200),
    bio text check (char_length(bio) <= 5000),
    website text check (char_length(website) <= 2000),
    -- network name -> profile URL; kept as an object so new networks need no migration.
    social jsonb not null default '{}'::jsonb check (jsonb_typeof(social) = 'object'),
    email text check (char_length(email) <= 320),
    -- Published articles bylined with this author. Maintained by the article workflow rather
    -- than counted per request, so lists can sort and page on it by index.
    article_count integer not null default 0 check (article_count >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint authors_slug_key unique (slug)
);
create index authors_name_idx on authors (name, id);
create index authors_article_count_idx on authors (article_count, id);
create index authors_created_at_idx on authors (created_at, id);

create table tags (
    id uuid primary key,
    -- Addressed by slug in URLs, so the slug rule lives here too: whatever writes a row (API,
    -- import, a hand-run script) cannot store an unroutable slug.
    slug text not null constraint tags_slug_format
        check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(slug) <= 200),
    name text not null check (char_length(name) between 1 and 100),
    description text check (char_length(description) <= 5000),
    article_count integer not null default 0 check (article_count >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint tags_slug_key unique (slug)
);
create index tags_name_idx on tags (name, id);
create index tags_article_count_idx on tags (article_count, id);
create index tags_created_at_idx on tags (created_at, id);

create table users (
    id uuid primary key,
    email text not null check (char_length(email) between 3 and 320 and email like '%_@_%'),
    name text not null check (char_length(name) between 1 and 200),
    -- `reader` is for API tokens only: a person who signs in can at least contribute.
    role text not null check (role in ('contributor', 'author', 'editor', 'admin')),
    password_hash text not null,
    -- The byline this user writes under: "own article" checks for contributors and authors.
    author_id uuid references authors (id) on delete set null,
    disabled boolean not null default false,
    last_login_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
-- Emails are compared case-insensitively: "Ed@x.org" and "ed@x.org" are one account.
create unique index users_email_key on users (lower(email));
create unique index users_author_id_key on users (author_id) where author_id is not null;
create index users_created_at_idx on users (created_at, id);

-- Only the SHA-256 of a token is stored: a leaked table cannot be replayed.
create table sessions (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    token_hash bytea not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    constraint sessions_token_hash_key unique (token_hash)
);
create index sessions_user_id_idx on sessions (user_id);

create table api_tokens (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    name text not null check (char_length(name) between 1 and 200),
    role text not null check (role in ('reader', 'contributor', 'author', 'editor', 'admin')),
    token_hash bytea not null,
    expires_at timestamptz,
    last_used_at timestamptz,
    created_at timestamptz not null default now(),
    constraint api_tokens_token_hash_key unique (token_hash)
);
create index api_tokens_user_id_idx on api_tokens (user_id, created_at);
create index api_tokens_created_at_idx on api_tokens (created_at, id);

-- One row per failed login, counted over a sliding window per account and per client address.
-- In the database rather than in memory so that several server processes share one limit.
create table login_failures (
    id bigint generated always as identity primary key,
    email_key text not null,
    client_ip text,
    at timestamptz not null default now()
);
create index login_failures_email_idx on login_failures (email_key, at);
create index login_failures_client_idx on login_failures (client_ip, at);
-- Pruning old rows on every failure must stay an index range scan during a brute-force attack.
create index login_failures_at_idx on login_failures (at);
