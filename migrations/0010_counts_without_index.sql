-- Every publish changes `article_count` of its authors and tags. Indexed, each change was a new
-- row version in all six indexes of the table (no HOT update) and left dead versions that the
-- next change and every foreign-key check had to step over: an import of 100,000 articles
-- updated 300 tags 130,000 times, a seventh of the database's work. Unindexed, the changes
-- are HOT updates in place. Sorting a list by `article_count` reads the whole table instead
-- (about 1 ms per 10,000 tags or authors), and that sort is not the default.
drop index authors_article_count_idx;
drop index tags_article_count_idx;
