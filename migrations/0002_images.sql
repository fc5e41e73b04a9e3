-- The image library. Files live in media storage under keys derived from the image id, never
-- from anything a client sent; a row is inserted only after all of its files are written, so a
-- row never points at a missing file (orphaned files from a crash are removed by `galley media gc`).

create table images (
    id uuid primary key,
    -- Uploading the same bytes again returns the existing image instead of a copy.
    sha256 bytea not null constraint images_sha256_key unique,
    mime_type text not null
        check (mime_type in ('image/jpeg', 'image/png', 'image/webp', 'image/gif')),
    width integer not null check (width > 0),
    height integer not null check (height > 0),
    -- Size of the served original (re-encoded without metadata), not of the upload.
    bytes bigint not null check (bytes > 0),
    storage_key text not null,
    alt text check (char_length(alt) <= 1000),
    caption text check (char_length(caption) <= 2000),
    credit text check (char_length(credit) <= 500),
    focal_x real,
    focal_y real,
    blurhash text,
    -- [{width, height, mime_type, key, bytes}], smallest first.
    variants jsonb not null default '[]'::jsonb check (jsonb_typeof(variants) = 'array'),
    -- The client's file name: metadata for editors, never used in a path.
    original_filename text check (char_length(original_filename) <= 255),
    created_by uuid references users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint images_focal_point check (
        (focal_x is null and focal_y is null)
        or (focal_x between 0 and 1 and focal_y between 0 and 1)
    )
);
create index images_created_at_idx on images (created_at, id);

alter table authors
    add column avatar_image_id uuid constraint authors_avatar_image_id_fkey
        references images (id) on delete restrict;
create index authors_avatar_image_id_idx on authors (avatar_image_id) where avatar_image_id is not null;

-- Everything that uses an image, one row per use. Resources that reference images (article
-- banners and body blocks, when articles land) add their arm here with `create or replace view`;
-- deleting an image and the `unused` filter read only this view.
create view image_references as
    select a.avatar_image_id as image_id,
           'author_avatar'::text as kind,
           a.id as resource_id,
           a.name as label
    from authors a
    where a.avatar_image_id is not null;
