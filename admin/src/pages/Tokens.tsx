// API tokens for scripts and frontends: a name, a role no higher than your own, an optional
// expiry. The secret is shown once, with a copy button; revoking stops it on the next request.
import { useState, type FormEvent } from 'react';
import { api, type Role, type Schemas } from '../api/client';
import { ApiError, call } from '../api/problem';
import { atLeastRole } from '../api/roles';
import { useUser } from '../session';
import { ErrorNotice } from '../ui/ErrorNotice';
import { formatWhen } from '../ui/format';
import { Secret } from '../ui/Secret';
import { asApiError, useLoad } from '../ui/useLoad';
import { ROLES } from './Users';

type Created = Schemas['CreatedApiToken'];

export default function Tokens() {
  const me = useUser();
  const tokens = useLoad(() => call(api.GET('/v1/tokens', { params: { query: { limit: 100 } } })), []);
  const [created, setCreated] = useState<Created | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [formKey, setFormKey] = useState(0);
  const roles = ROLES.filter((r) => atLeastRole(me.role, r));

  const create = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const expires = String(form.get('expires') ?? '');
    setError(null);
    try {
      const token = await call(
        api.POST('/v1/tokens', {
          body: { name: String(form.get('name') ?? ''), role: String(form.get('role')) as Role, expires_at: expires ? new Date(`${expires}T23:59:59`).toISOString() : null },
        }),
      );
      setCreated(token);
      setFormKey((n) => n + 1);
      tokens.reload();
    } catch (err) {
      setError(asApiError(err));
    }
  };

  const revoke = async (token: Schemas['ApiToken']) => {
    if (!window.confirm(`Revoke “${token.name}”? Whatever uses it stops working at once.`)) return;
    setError(null);
    try {
      await call(api.DELETE('/v1/tokens/{id}', { params: { path: { id: token.id } } }));
      if (created?.id === token.id) setCreated(null);
    } catch (err) {
      setError(asApiError(err));
    }
    tokens.reload();
  };

  const fields = error?.fields ?? new Map<string, string>();
  const now = Date.now();
  return (
    <section aria-labelledby="tokens-title">
      <header className="page-header">
        <h1 id="tokens-title">API tokens</h1>
      </header>
      <p className="muted">A token acts for the user who made it, with the role it was given. Send it as <code>Authorization: Bearer glt_…</code>.</p>
      <form key={formKey} className="inline-form" aria-label="New API token" onSubmit={(e) => void create(e)}>
        <label>
          Name
          <input name="name" required placeholder="web frontend, nightly import" aria-invalid={fields.has('name') || undefined} />
          {fields.get('name') && <span className="field-error">{fields.get('name')}</span>}
        </label>
        <label>
          Role
          <select name="role" defaultValue="reader">
            {roles.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label>
          Expires (optional)
          <input name="expires" type="date" min={new Date(now + 86_400_000).toISOString().slice(0, 10)} aria-invalid={fields.has('expires_at') || undefined} />
          {fields.get('expires_at') && <span className="field-error">{fields.get('expires_at')}</span>}
        </label>
        <button type="submit" className="primary">
          Create token
        </button>
      </form>
      {error && <ErrorNotice error={error} />}
      {created && <Secret label={`The secret of “${created.name}”`} value={created.token} onDone={() => setCreated(null)} />}
      {tokens.error && <ErrorNotice error={tokens.error} onRetry={tokens.reload} />}
      <div className="table-wrap" aria-busy={tokens.loading}>
        <table>
          <caption className="visually-hidden">API tokens</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(tokens.data?.data ?? []).map((token) => (
              <tr key={token.id}>
                <td>
                  {token.name}
                  {token.user_id !== me.id && <span className="muted"> (another user’s)</span>}
                </td>
                <td>{token.role}</td>
                <td>{formatWhen(token.created_at)}</td>
                <td>
                  {token.expires_at ? formatWhen(token.expires_at) : 'never'}
                  {token.expires_at && Date.parse(token.expires_at) < now && <span className="warn"> (expired)</span>}
                </td>
                <td>{token.last_used_at ? formatWhen(token.last_used_at) : 'never'}</td>
                <td>
                  <button type="button" className="danger" onClick={() => void revoke(token)}>
                    Revoke {token.name}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {tokens.data && tokens.data.data.length === 0 && <p className="empty">No tokens yet.</p>}
      </div>
    </section>
  );
}
