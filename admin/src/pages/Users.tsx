// Accounts (admin): create one with a role and a first password, change a role, disable or
// enable. The API guards the rest: never no active admin, never disabling yourself.
import { useState, type FormEvent } from 'react';
import { api, type Role, type User } from '../api/client';
import { ApiError, answer, call } from '../api/problem';
import { ifMatch } from '../people/useRecord';
import { useUser } from '../session';
import { ErrorNotice } from '../ui/ErrorNotice';
import { formatWhen } from '../ui/format';
import { asApiError, useLoad } from '../ui/useLoad';

export const ROLES: Role[] = ['reader', 'contributor', 'author', 'editor', 'admin'];

export default function Users() {
  const me = useUser();
  // By email, a hundred at a time; "Show more users" appends the next hundred.
  const page = (cursor?: string) =>
    call(api.GET('/v1/users', { params: { query: { limit: 100, sort: 'email', ...(cursor ? { cursor } : {}) } } }));
  const users = useLoad(() => page(), []);
  const [more, setMore] = useState<{ loading: boolean; error: ApiError | null }>({ loading: false, error: null });
  const showMore = async () => {
    const shown = users.data;
    const cursor = shown?.meta.next_cursor;
    if (!shown || !cursor) return;
    setMore({ loading: true, error: null });
    try {
      const next = await page(cursor);
      users.set({ ...next, data: [...shown.data, ...next.data] });
      setMore({ loading: false, error: null });
    } catch (err) {
      setMore({ loading: false, error: asApiError(err) });
    }
  };
  const [created, setCreated] = useState<string | null>(null);
  const [createError, setCreateError] = useState<ApiError | null>(null);
  const [rowError, setRowError] = useState<{ id: string; error: ApiError } | null>(null);
  const [formKey, setFormKey] = useState(0);

  const create = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const value = (name: string) => String(form.get(name) ?? '');
    setCreateError(null);
    try {
      const user = await call(
        api.POST('/v1/users', { body: { email: value('email'), name: value('name'), role: value('role') as Role, password: value('password') } }),
      );
      setCreated(`${user.name} (${user.email}) can now sign in as ${user.role}.`);
      setFormKey((n) => n + 1);
      users.reload();
    } catch (err) {
      setCreateError(asApiError(err));
    }
  };

  // One change a row at a time: the next one is written on top of the version this one made.
  const [pending, setPending] = useState<string | null>(null);
  const change = async (user: User, body: { role?: Role; disabled?: boolean }) => {
    setRowError(null);
    setPending(user.id);
    try {
      const current = await answer(api.GET('/v1/users/{id}', { params: { path: { id: user.id } } }));
      const saved = await call(api.PATCH('/v1/users/{id}', { params: { path: { id: user.id }, header: ifMatch(current.etag) }, body }));
      if (users.data) users.set({ ...users.data, data: users.data.data.map((u) => (u.id === saved.id ? saved : u)) });
    } catch (err) {
      setRowError({ id: user.id, error: asApiError(err) });
      users.reload();
    } finally {
      setPending(null);
    }
  };

  const fields = createError?.fields ?? new Map<string, string>();
  const input = (name: string, label: string, type = 'text') => (
    <label>
      {label}
      <input name={name} type={type} required aria-invalid={fields.has(name) || undefined} autoComplete={type === 'password' ? 'new-password' : 'off'} />
      {fields.get(name) && <span className="field-error">{fields.get(name)}</span>}
    </label>
  );

  return (
    <section aria-labelledby="users-title">
      <header className="page-header">
        <h1 id="users-title">Users</h1>
      </header>
      <form key={formKey} className="inline-form" aria-label="New user" onSubmit={(e) => void create(e)}>
        {input('email', 'Email', 'email')}
        {input('name', 'Name')}
        <label>
          Role
          <select name="role" defaultValue="author">
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        {input('password', 'First password', 'password')}
        <button type="submit" className="primary">
          Create user
        </button>
      </form>
      {createError && <ErrorNotice error={createError} />}
      {created && (
        <p className="notice" role="status">
          {created}
        </p>
      )}
      {users.error && <ErrorNotice error={users.error} onRetry={users.reload} />}
      {rowError && <ErrorNotice error={rowError.error} />}
      <div className="table-wrap" aria-busy={users.loading}>
        <table>
          <caption className="visually-hidden">Users</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Signed in</th>
              <th scope="col">Access</th>
            </tr>
          </thead>
          <tbody>
            {(users.data?.data ?? []).map((user) => (
              <tr key={user.id} className={user.disabled ? 'disabled' : undefined}>
                <td>
                  {user.name}
                  {user.id === me.id && <span className="muted"> (you)</span>}
                </td>
                <td>{user.email}</td>
                <td>
                  <select aria-label={`Role of ${user.email}`} value={user.role} disabled={pending === user.id} onChange={(e) => void change(user, { role: e.target.value as Role })}>
                    {ROLES.map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </select>
                </td>
                <td>{formatWhen(user.last_login_at)}</td>
                <td>
                  <button type="button" disabled={user.id === me.id || pending === user.id} onClick={() => void change(user, { disabled: !user.disabled })}>
                    {user.disabled ? `Enable ${user.email}` : `Disable ${user.email}`}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {users.data && users.data.meta.total > users.data.data.length && (
          <p className="muted">
            The first {users.data.data.length} of {users.data.meta.total} users, by email.{' '}
            {users.data.meta.next_cursor && (
              <button type="button" disabled={more.loading} onClick={() => void showMore()}>
                Show more users
              </button>
            )}
          </p>
        )}
        {more.error && <ErrorNotice error={more.error} onRetry={() => void showMore()} />}
      </div>
    </section>
  );
}
