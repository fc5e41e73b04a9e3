import { api } from '../api/client';
import { variantUrl } from '../api/images';
import { call } from '../api/problem';
import { NAMED_PAGE, NamedList } from '../people/NamedList';
import { atLeast, useUser } from '../session';

export default function Authors({ query }: { query: URLSearchParams }) {
  const user = useUser();
  return (
    <NamedList
      kind="authors"
      title="Authors"
      query={query}
      canCreate={atLeast(user, 'editor')}
      fetch={(q, sort, cursor) =>
        call(api.GET('/v1/authors', { params: { query: { limit: NAMED_PAGE, sort, ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) } } }))
      }
      columns={[
        {
          label: 'Picture',
          cell: (a) => (a.avatar ? <img className="avatar" src={variantUrl(a.avatar, 96)} alt="" width={48} height={48} loading="lazy" /> : <span className="muted">none</span>),
        },
        { label: 'Website', cell: (a) => a.website ?? <span className="muted">—</span> },
      ]}
    />
  );
}
