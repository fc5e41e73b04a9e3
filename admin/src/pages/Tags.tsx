import { api } from '../api/client';
import { call } from '../api/problem';
import { NAMED_PAGE, NamedList } from '../people/NamedList';
import { atLeast, useUser } from '../session';

export default function Tags({ query }: { query: URLSearchParams }) {
  const user = useUser();
  return (
    <NamedList
      kind="tags"
      title="Tags"
      query={query}
      canCreate={atLeast(user, 'editor')}
      fetch={(q, sort, cursor) =>
        call(api.GET('/v1/tags', { params: { query: { limit: NAMED_PAGE, sort, ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) } } }))
      }
      columns={[{ label: 'Description', cell: (t) => t.description ?? <span className="muted">—</span> }]}
    />
  );
}
