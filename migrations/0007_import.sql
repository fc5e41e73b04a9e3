-- The version an import last wrote. An import that finds a different current version knows an
-- editor changed the article since, and refuses to overwrite it unless told to.
alter table articles add column imported_version integer;
