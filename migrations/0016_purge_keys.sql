-- Purge keys (API.md §12): what a live article's JSON contains, as `Surrogate-Key` names,
-- kept with the rendered copy so that a read never works them out. Space-separated.
alter table live_articles add column purge_keys text not null default '';

update live_articles l set purge_keys = concat_ws(' ',
    'article-' || l.article_id,
    (select string_agg('author-' || a, ' ') from unnest(l.author_ids) a),
    (select string_agg('tag-' || t, ' ') from unnest(l.tag_ids) t),
    (select string_agg('image-' || i.image_id, ' ') from live_article_images i
     where i.article_id = l.article_id));
