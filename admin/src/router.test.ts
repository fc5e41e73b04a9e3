import { describe, expect, it } from 'vitest';
import { parse } from './router';

describe('parse', () => {
  it('knows the article pages', () => {
    expect(parse('/admin/', '').page).toBe('articles');
    expect(parse('/admin/articles/new', '')).toEqual({ page: 'new-article' });
    expect(parse('/admin/articles/abc', '')).toEqual({ page: 'article', id: 'abc' });
  });
  it('knows each section, one of its records, and a new one', () => {
    const images = parse('/admin/images', '?q=crowd');
    expect(images.page).toBe('images');
    expect(images.page === 'images' && images.query.get('q')).toBe('crowd');
    expect(parse('/admin/authors/guan-jing-peng', '')).toEqual({ page: 'authors-one', id: 'guan-jing-peng' });
    expect(parse('/admin/tags/new', '')).toEqual({ page: 'tags-one', id: null });
    expect(parse('/admin/webhooks/%E6%9D%BE', '')).toEqual({ page: 'webhooks-one', id: '松' });
  });
  it('sends anything else to not-found', () => {
    expect(parse('/admin/nope', '').page).toBe('not-found');
    expect(parse('/admin/images/a/b', '').page).toBe('not-found');
  });
});
