import type { Article } from '../api/client';

const LABELS: Record<Article['status'], string> = {
  draft: 'Draft',
  in_review: 'In review',
  scheduled: 'Scheduled',
  published: 'Published',
  archived: 'Archived',
};

export function StatusBadge({ article }: { article: Pick<Article, 'status' | 'has_unpublished_changes'> }) {
  return (
    <span className={`badge ${article.status}`}>
      {LABELS[article.status]}
      {article.has_unpublished_changes ? ' · unpublished changes' : ''}
    </span>
  );
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A time in the editor's own zone; empty for none. */
export function formatWhen(value: string | null | undefined): string {
  return value ? when.format(new Date(value)) : '—';
}
