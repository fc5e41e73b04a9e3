// Roles in the API's order (docs/API.md §15). The API decides; the admin only hides or
// disables what the API would refuse.
import type { Role } from './client';

const RANK: Record<Role, number> = { reader: 0, contributor: 1, author: 2, editor: 3, admin: 4 };

export function atLeastRole(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}
