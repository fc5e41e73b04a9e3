-- The version an import last wrote. An import that finds a different current version knows an
-- editor changed the article since, and refuses to overwrite it unless told to.
alter table articles add column imported_version integer;

-- A new slug is chosen among those starting `base-`, asked as a byte-wise range: the unique
-- indexes (collation order) cannot answer it, so every insert read the whole table (an import
-- of 5,000 articles spent most of its time there).
create index articles_slug_pattern_idx on articles (slug text_pattern_ops);
create index authors_slug_pattern_idx on authors (slug text_pattern_ops);
create index tags_slug_pattern_idx on tags (slug text_pattern_ops);
