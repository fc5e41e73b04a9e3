-- Publishing workflow: numbered revisions of the working copy, an append-only event log, preview
-- tokens, and the index the scheduler polls.

create table article_revisions (
    article_id uuid not null references articles (id) on delete cascade,
    number integer not null,
    action text not null,
    actor_id uuid references users (id) on delete set null,
    at timestamptz not null default now(),
    version integer not null,
    -- The working copy as it was after this change (ArticleData).
    snapshot jsonb not null,
    primary key (article_id, number)
);

-- Written in the same transaction as the change it records; the foundation for webhooks and a
-- change feed. No foreign key: an article's `deleted` event outlives the article.
create table article_events (
    id bigint generated always as identity primary key,
    article_id uuid not null,
    kind text not null,
    actor_id uuid,
    at timestamptz not null default now(),
    version integer not null
);
create index article_events_article_idx on article_events (article_id, id);

-- Stored as SHA-256 hashes, like sessions and API tokens.
create table preview_tokens (
    token_hash bytea primary key,
    article_id uuid not null references articles (id) on delete cascade,
    created_by uuid references users (id) on delete set null,
    expires_at timestamptz not null
);
create index preview_tokens_expires_idx on preview_tokens (expires_at);

create index articles_due_idx on articles (scheduled_at) where status = 'scheduled';
