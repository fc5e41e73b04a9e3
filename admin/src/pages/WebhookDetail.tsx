// One webhook endpoint: its settings, a ping, secret rotation (the old secret keeps signing
// for a while, so the receiver can switch), and the delivery log, refreshed while open, with
// redeliver on each entry.
import { useEffect, useState } from 'react';
import { api, type Schemas } from '../api/client';
import { ApiError, answer, call } from '../api/problem';
import { ifMatch } from '../people/useRecord';
import { BASE, Link, navigate } from '../router';
import { ErrorNotice } from '../ui/ErrorNotice';
import { formatWhen } from '../ui/format';
import { Secret } from '../ui/Secret';
import { asApiError, useLoad } from '../ui/useLoad';
import { EventChoice } from '../webhooks/EventChoice';
import { health } from './Webhooks';

type Webhook = Schemas['Webhook'];
type Delivery = Schemas['Delivery'];

const REFRESH_MS = 3000;

export default function WebhookDetail({ id }: { id: string }) {
  const hook = useLoad(() => answer(api.GET('/v1/webhooks/{id}', { params: { path: { id } } })), [id]);
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const [logError, setLogError] = useState<ApiError | null>(null);
  const [draft, setDraft] = useState<{ url: string; description: string; events: string[] } | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [round, setRound] = useState(0);

  useEffect(() => {
    let live = true;
    const load = () =>
      call(api.GET('/v1/webhooks/{id}/deliveries', { params: { path: { id }, query: { limit: 50, sort: '-created_at' } } }))
        .then((page) => {
          if (!live) return;
          setDeliveries(page.data);
          setLogError(null);
        })
        .catch((err: unknown) => live && setLogError(asApiError(err)));
    void load();
    const timer = window.setInterval(() => void load(), REFRESH_MS);
    return () => {
      live = false;
      window.clearInterval(timer);
    };
  }, [id, round]);

  if (hook.error) return <ErrorNotice error={hook.error} onRetry={hook.reload} />;
  if (!hook.data) return <p role="status">Loading the webhook…</p>;
  const { data: current, etag } = hook.data;
  const form = draft ?? { url: current.url, description: current.description ?? '', events: current.events };

  const run = async (what: () => Promise<void>) => {
    setError(null);
    setNotice(null);
    try {
      await what();
    } catch (err) {
      setError(asApiError(err));
    }
  };
  const patch = (body: Schemas['UpdateWebhook'], said: string) =>
    run(async () => {
      const saved = await answer(api.PATCH('/v1/webhooks/{id}', { params: { path: { id }, header: ifMatch(etag) }, body }));
      hook.set(saved as { data: Webhook; etag: string | null });
      setDraft(null);
      setNotice(said);
    });
  const rotate = () =>
    run(async () => {
      if (!window.confirm('Make a new signing secret? The current one keeps signing alongside it for 24 hours.')) return;
      const rotated = await call(api.POST('/v1/webhooks/{id}/rotate-secret', { params: { path: { id } } }));
      setSecret(rotated.secret);
      hook.reload();
    });
  const ping = () =>
    run(async () => {
      await call(api.POST('/v1/webhooks/{id}/ping', { params: { path: { id } } }));
      setNotice('A ping is on its way; it appears in the log below.');
      setRound((n) => n + 1);
    });
  const redeliver = (delivery: Delivery) =>
    run(async () => {
      await call(api.POST('/v1/webhooks/{id}/deliveries/{event_id}/redeliver', { params: { path: { id, event_id: delivery.event_id } } }));
      setNotice(`${delivery.type} is queued to be delivered again.`);
      setRound((n) => n + 1);
    });
  const remove = () =>
    run(async () => {
      if (!window.confirm(`Delete the webhook to ${current.url}? It receives nothing more.`)) return;
      await call(api.DELETE('/v1/webhooks/{id}', { params: { path: { id }, header: ifMatch(etag) } }));
      navigate(`${BASE}/webhooks`);
    });

  const fields = error?.fields ?? new Map<string, string>();
  return (
    <section aria-labelledby="webhook-title" className="record">
      <header className="page-header">
        <Link href={`${BASE}/webhooks`}>← Webhooks</Link>
        <h1 id="webhook-title">{current.url}</h1>
      </header>
      <p>
        <strong>{health(current)}</strong>
        {current.previous_secret_until && <span className="muted"> · the previous secret signs too until {formatWhen(current.previous_secret_until)}</span>}
      </p>
      <div className="actions">
        <button type="button" onClick={() => void patch({ enabled: !current.enabled }, current.enabled ? 'Disabled.' : 'Enabled: deliveries resume where they stopped.')}>
          {current.enabled ? 'Disable' : 'Enable'}
        </button>
        <button type="button" onClick={() => void ping()}>
          Send a ping
        </button>
        <button type="button" onClick={() => void rotate()}>
          Rotate secret
        </button>
        <button type="button" className="danger" onClick={() => void remove()}>
          Delete webhook
        </button>
      </div>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {error && <ErrorNotice error={error} />}
      {secret && <Secret label="The new signing secret" value={secret} onDone={() => setSecret(null)} />}

      <form
        className="record-form"
        aria-label="Settings"
        onSubmit={(e) => {
          e.preventDefault();
          void patch({ url: form.url.trim(), description: form.description.trim() || null, events: form.events }, 'Saved.');
        }}
      >
        <label>
          Receiver URL
          <input type="url" value={form.url} aria-invalid={fields.has('url') || undefined} onChange={(e) => setDraft({ ...form, url: e.target.value })} />
          {fields.get('url') && <span className="field-error">{fields.get('url')}</span>}
        </label>
        <label>
          Description
          <input value={form.description} onChange={(e) => setDraft({ ...form, description: e.target.value })} />
        </label>
        <EventChoice value={form.events} onChange={(events) => setDraft({ ...form, events })} />
        <div className="actions">
          <button type="submit" className="primary" disabled={!draft || form.events.length === 0}>
            Save settings
          </button>
        </div>
      </form>

      <section aria-labelledby="log-title">
        <h2 id="log-title">Deliveries</h2>
        <p className="muted">The latest 50, refreshed every few seconds.</p>
        {logError && <ErrorNotice error={logError} onRetry={() => setRound((n) => n + 1)} />}
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Deliveries</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">State</th>
                <th scope="col">Answer</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last attempt</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {(deliveries ?? []).map((d) => (
                <tr key={d.event_id} className={`delivery ${d.state}`}>
                  <td>
                    <code>{d.type}</code>
                    <div className="muted">{d.event_id}</div>
                  </td>
                  <td>
                    {d.state}
                    {d.state === 'pending' && d.next_attempt_at && <div className="muted">next {formatWhen(d.next_attempt_at)}</div>}
                  </td>
                  <td>
                    {d.status_code ?? '—'}
                    {d.duration_ms !== null && d.duration_ms !== undefined && <span className="muted"> in {d.duration_ms} ms</span>}
                    {(d.error ?? d.response_excerpt) && <div className="muted excerpt">{d.error ?? d.response_excerpt}</div>}
                  </td>
                  <td>{d.attempts}</td>
                  <td>{formatWhen(d.last_attempt_at)}</td>
                  <td>
                    {d.type !== 'ping' && (
                      <button type="button" onClick={() => void redeliver(d)}>
                        Redeliver
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {deliveries && deliveries.length === 0 && <p className="empty">Nothing delivered yet. Send a ping, or change something this endpoint receives.</p>}
        </div>
      </section>
    </section>
  );
}
