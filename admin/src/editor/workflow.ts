// Which workflow actions to offer: the API's transition table (docs/API.md §15) crossed with
// the role. Ownership (authors publish their own) is the API's to check; a refusal is shown.
import type { ArticleStatus, Role } from '../api/client';
import { atLeastRole } from '../api/roles';
import type { components } from '../api/galley';

export type Action = components['schemas']['Action'];

const FROM: Record<Action, ArticleStatus[]> = {
  submit: ['draft'],
  publish: ['draft', 'in_review', 'scheduled', 'published'],
  schedule: ['draft', 'in_review', 'scheduled'],
  unschedule: ['scheduled'],
  unpublish: ['published'],
  archive: ['draft', 'in_review', 'scheduled', 'published'],
  restore: ['archived'],
};

const NEEDS: Record<Action, Role> = {
  submit: 'contributor',
  publish: 'author',
  schedule: 'author',
  unschedule: 'author',
  unpublish: 'author',
  archive: 'editor',
  restore: 'editor',
};

export const LABEL: Record<Action, string> = {
  submit: 'Submit for review',
  publish: 'Publish',
  schedule: 'Schedule',
  unschedule: 'Unschedule',
  unpublish: 'Unpublish',
  archive: 'Archive',
  restore: 'Restore',
};

/** The actions `role` may take from `status`, and those it may not (with the reason). */
export function actionsFor(status: ArticleStatus, role: Role): { allowed: Action[]; refused: [Action, string][] } {
  const allowed: Action[] = [];
  const refused: [Action, string][] = [];
  for (const action of Object.keys(FROM) as Action[]) {
    if (!FROM[action].includes(status)) continue;
    if (atLeastRole(role, NEEDS[action])) allowed.push(action);
    else refused.push([action, `${LABEL[action]} needs the ${NEEDS[action]} role`]);
  }
  return { allowed, refused };
}
