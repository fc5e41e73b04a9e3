-- A revision's snapshot is serialised by Galley and read back only by Galley, whole. As `json`
-- PostgreSQL parsed every one on the way in to check it, some 3% of an import's database
-- work; as text it is stored as sent. Reads that need JSON cast (`snapshot::json`).
alter table article_revisions alter column snapshot type text;
alter table article_revisions alter column snapshot set compression lz4;
