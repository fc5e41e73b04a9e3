// Webhook endpoints (admin): what each receives and whether it is healthy; a new endpoint
// shows its signing secret once.
import { useState, type FormEvent } from 'react';
import { api, type Schemas } from '../api/client';
import { ApiError, call } from '../api/problem';
import { BASE, Link } from '../router';
import { ErrorNotice } from '../ui/ErrorNotice';
import { formatWhen } from '../ui/format';
import { Secret } from '../ui/Secret';
import { asApiError, useLoad } from '../ui/useLoad';
import { EventChoice } from '../webhooks/EventChoice';

export function health(hook: Schemas['Webhook']): string {
  if (!hook.enabled) return hook.disabled_reason ? `Disabled by Galley: ${hook.disabled_reason}` : 'Disabled';
  if (hook.failing_since) return `Failing since ${formatWhen(hook.failing_since)}`;
  return 'Enabled';
}

export default function Webhooks() {
  const hooks = useLoad(() => call(api.GET('/v1/webhooks', { params: { query: { limit: 100 } } })), []);
  const [events, setEvents] = useState<string[]>(['article.published', 'article.unpublished']);
  const [created, setCreated] = useState<Schemas['WebhookWithSecret'] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [formKey, setFormKey] = useState(0);

  const create = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const description = String(form.get('description') ?? '').trim();
    setError(null);
    try {
      const hook = await call(api.POST('/v1/webhooks', { body: { url: String(form.get('url') ?? '').trim(), events, description: description || null } }));
      setCreated(hook);
      setFormKey((n) => n + 1);
      hooks.reload();
    } catch (err) {
      setError(asApiError(err));
    }
  };

  const fields = error?.fields ?? new Map<string, string>();
  return (
    <section aria-labelledby="webhooks-title">
      <header className="page-header">
        <h1 id="webhooks-title">Webhooks</h1>
      </header>
      <p className="muted">
        Galley signs every delivery (Standard Webhooks), retries failures for 28 hours with the same <code>webhook-id</code>, and disables an endpoint that fails for 5 days.
      </p>
      <form key={formKey} className="record-form" aria-label="New webhook" onSubmit={(e) => void create(e)}>
        <label>
          Receiver URL
          <input name="url" type="url" required placeholder="https://example.com/hooks/galley" aria-invalid={fields.has('url') || undefined} />
          {fields.get('url') && <span className="field-error">{fields.get('url')}</span>}
        </label>
        <label>
          Description
          <input name="description" placeholder="Rebuild the site" />
        </label>
        <EventChoice value={events} onChange={setEvents} />
        {fields.get('events') && <span className="field-error">{fields.get('events')}</span>}
        <div className="actions">
          <button type="submit" className="primary" disabled={events.length === 0}>
            Create webhook
          </button>
        </div>
      </form>
      {error && <ErrorNotice error={error} />}
      {created && (
        <Secret label={`The signing secret of ${created.url}`} value={created.secret} onDone={() => setCreated(null)} />
      )}
      {hooks.error && <ErrorNotice error={hooks.error} onRetry={hooks.reload} />}
      <div className="table-wrap" aria-busy={hooks.loading}>
        <table>
          <caption className="visually-hidden">Webhook endpoints</caption>
          <thead>
            <tr>
              <th scope="col">Receiver</th>
              <th scope="col">Events</th>
              <th scope="col">State</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {(hooks.data?.data ?? []).map((hook) => (
              <tr key={hook.id}>
                <td>
                  <Link className="title" href={`${BASE}/webhooks/${hook.id}`}>
                    {hook.url}
                  </Link>
                  {hook.description && <div className="muted">{hook.description}</div>}
                </td>
                <td>{hook.events.includes('*') ? 'every event' : hook.events.join(', ')}</td>
                <td>{health(hook)}</td>
                <td>{formatWhen(hook.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {hooks.data && hooks.data.data.length === 0 && <p className="empty">No webhooks yet.</p>}
      </div>
    </section>
  );
}
