// Which events an endpoint receives: every event ("*"), or the ones ticked, grouped by the
// kind of object they are about.
import type { Schemas } from '../api/client';

type EventType = Schemas['EventType'];

// Every event type once: a type the API adds and this list lacks does not compile.
const KNOWN: Record<EventType, true> = {
  'article.created': true,
  'article.updated': true,
  'article.submitted': true,
  'article.scheduled': true,
  'article.unscheduled': true,
  'article.published': true,
  'article.unpublished': true,
  'article.archived': true,
  'article.restored': true,
  'article.deleted': true,
  'author.created': true,
  'author.updated': true,
  'author.deleted': true,
  'tag.created': true,
  'tag.updated': true,
  'tag.deleted': true,
  'image.created': true,
  'image.updated': true,
  'image.deleted': true,
};
export const EVENT_TYPES = Object.keys(KNOWN) as EventType[];

const GROUPS = ['article', 'author', 'tag', 'image'] as const;

export function EventChoice({ value, onChange, disabled = false }: { value: string[]; onChange: (events: string[]) => void; disabled?: boolean }) {
  const all = value.includes('*');
  const toggle = (event: string) => onChange(value.includes(event) ? value.filter((e) => e !== event) : [...value, event]);
  return (
    <fieldset className="events" disabled={disabled}>
      <legend>Events</legend>
      <label className="check">
        <input type="checkbox" checked={all} onChange={() => onChange(all ? [] : ['*'])} />
        Every event, including ones added later
      </label>
      {!all && (
        <div className="event-groups">
          {GROUPS.map((group) => (
            <div key={group} role="group" aria-label={`${group} events`}>
              {EVENT_TYPES.filter((e) => e.startsWith(`${group}.`)).map((event) => (
                <label key={event} className="check">
                  <input type="checkbox" checked={value.includes(event)} onChange={() => toggle(event)} />
                  <code>{event}</code>
                </label>
              ))}
            </div>
          ))}
        </div>
      )}
    </fieldset>
  );
}
