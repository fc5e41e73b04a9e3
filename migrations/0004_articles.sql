-- Articles: the working copy editors edit, and the live copy the public reads.
--
-- The live copy (`live_articles`) is a snapshot taken when an article is published, stored
-- with its public JSON already rendered (`summary` for lists, `document` with the body), so a
-- public read serves stored text instead of rebuilding it per request. Filter columns beside it
-- (author and tag ids, flags, times, search vector) keep every public query on one table.

create table articles (
    id uuid primary key,
    slug text not null constraint articles_slug_format
        check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(slug) <= 200),
    status text not null default 'draft' constraint articles_status
        check (status in ('draft', 'in_review', 'scheduled', 'published', 'archived')),
    title text not null check (char_length(title) between 1 and 300),
    subtitle text check (char_length(subtitle) <= 500),
    -- As written by the editor; null means "derived from the first paragraph".
    excerpt text check (char_length(excerpt) <= 1000),
    body jsonb not null default '[]'::jsonb check (jsonb_typeof(body) = 'array'),
    banner_image_id uuid constraint articles_banner_image_id_fkey
        references images (id) on delete restrict,
    banner_caption text check (char_length(banner_caption) <= 2000),
    banner_credit text check (char_length(banner_credit) <= 500),
    featured boolean not null default false,
    language text not null default 'en' check (char_length(language) between 2 and 35),
    seo jsonb not null default '{}'::jsonb check (jsonb_typeof(seo) = 'object'),
    -- The import key: unique when present.
    external_id text constraint articles_external_id_key unique
        check (char_length(external_id) between 1 and 200),
    -- Derived from the body on every save.
    plaintext text not null default '',
    derived_excerpt text,
    word_count integer not null default 0,
    reading_time_minutes integer not null default 0,
    -- The working copy's search terms (title A, subtitle and excerpt B, body C), so editors
    -- search drafts the way readers search published articles.
    search tsvector not null default ''::tsvector,
    created_by uuid references users (id) on delete set null,
    published_at timestamptz,
    scheduled_at timestamptz,
    -- Bumped by every change; `live_version` is the version the live copy was taken from.
    version integer not null default 1,
    live_version integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint articles_slug_key unique (slug)
);
create index articles_updated_at_idx on articles (updated_at, id);
create index articles_created_at_idx on articles (created_at, id);
create index articles_title_idx on articles (title, id);
create index articles_status_idx on articles (status, updated_at);
create index articles_created_by_idx on articles (created_by);
create index articles_search_idx on articles using gin (search);

-- Bylines and tags of the working copy, in order.
create table article_authors (
    article_id uuid not null references articles (id) on delete cascade,
    author_id uuid not null constraint article_authors_author_id_fkey
        references authors (id) on delete restrict,
    position smallint not null,
    primary key (article_id, author_id)
);
create index article_authors_author_id_idx on article_authors (author_id);

create table article_tags (
    article_id uuid not null references articles (id) on delete cascade,
    tag_id uuid not null references tags (id) on delete cascade,
    position smallint not null,
    primary key (article_id, tag_id)
);
create index article_tags_tag_id_idx on article_tags (tag_id);

-- Images used in the working copy's body (the banner has its own column). A foreign key, not a
-- scan of every body, answers "is this image in use?" and forbids deleting it meanwhile.
create table article_body_images (
    article_id uuid not null references articles (id) on delete cascade,
    image_id uuid not null constraint article_body_images_image_id_fkey
        references images (id) on delete restrict,
    primary key (article_id, image_id)
);
create index article_body_images_image_id_idx on article_body_images (image_id);

create table live_articles (
    article_id uuid primary key references articles (id) on delete cascade,
    slug text not null constraint live_articles_slug_key unique,
    title text not null,
    featured boolean not null,
    language text not null,
    published_at timestamptz not null,
    updated_at timestamptz not null,
    created_at timestamptz not null,
    author_ids uuid[] not null,
    tag_ids uuid[] not null,
    search tsvector not null,
    -- The article as published (working-copy fields and relation ids), from which `summary`
    -- and `document` are rendered again when an embedded author, tag or image changes.
    snapshot jsonb not null,
    summary text not null,
    document text not null
);
create index live_articles_published_at_idx on live_articles (published_at, article_id);
create index live_articles_updated_at_idx on live_articles (updated_at, article_id);
create index live_articles_title_idx on live_articles (title, article_id);
create index live_articles_author_ids_idx on live_articles using gin (author_ids);
create index live_articles_tag_ids_idx on live_articles using gin (tag_ids);
create index live_articles_search_idx on live_articles using gin (search);

-- Images the live copy shows: a published page must not lose its pictures because the working
-- copy moved on.
create table live_article_images (
    article_id uuid not null references live_articles (article_id) on delete cascade,
    image_id uuid not null constraint live_article_images_image_id_fkey
        references images (id) on delete restrict,
    primary key (article_id, image_id)
);
create index live_article_images_image_id_idx on live_article_images (image_id);

create or replace view image_references as
    select a.avatar_image_id as image_id, 'author_avatar'::text as kind, a.id as resource_id,
           a.name as label
    from authors a
    where a.avatar_image_id is not null
    union all
    select ar.banner_image_id, 'article_banner', ar.id, ar.title
    from articles ar
    where ar.banner_image_id is not null
    union all
    select bi.image_id, 'article_body_image', ar.id, ar.title
    from article_body_images bi
    join articles ar on ar.id = bi.article_id
    union all
    select li.image_id, 'published_article', ar.id, ar.title
    from live_article_images li
    join articles ar on ar.id = li.article_id;

-- The public list's total, kept like the authors' and tags' (0003).
insert into row_counts (table_name, count) values ('live_articles', 0);
create trigger live_articles_count_insert after insert on live_articles
    referencing new table as new_rows for each statement execute function row_counts_adjust();
create trigger live_articles_count_delete after delete on live_articles
    referencing old table as old_rows for each statement execute function row_counts_adjust();
