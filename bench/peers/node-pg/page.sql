-- The 20 newest published articles with bodies, authors, tags and banner, read from the
-- normalized tables the way a thin CMS server (or an ORM's eager load) does: one statement,
-- related rows aggregated to JSON by PostgreSQL. pgbench runs this file as the ceiling of
-- that design; server.mjs runs the same statement per request.
select a.id, a.slug, a.title, a.subtitle, coalesce(a.excerpt, a.derived_excerpt) as excerpt,
    a.body, a.featured, a.language, a.seo, a.word_count, a.reading_time_minutes,
    a.published_at, a.created_at, a.updated_at,
    (select coalesce(json_agg(json_build_object('id', w.id, 'slug', w.slug, 'name', w.name,
            'bio', w.bio) order by x.position), '[]')
        from article_authors x join authors w on w.id = x.author_id
        where x.article_id = a.id) as authors,
    (select coalesce(json_agg(json_build_object('id', t.id, 'slug', t.slug, 'name', t.name)
            order by x.position), '[]')
        from article_tags x join tags t on t.id = x.tag_id
        where x.article_id = a.id) as tags,
    (select json_build_object('id', i.id, 'width', i.width, 'height', i.height, 'alt', i.alt,
            'caption', coalesce(a.banner_caption, i.caption),
            'credit', coalesce(a.banner_credit, i.credit), 'variants', i.variants)
        from images i where i.id = a.banner_image_id) as banner
from articles a
where a.status = 'published'
order by a.published_at desc, a.id desc
limit 20
