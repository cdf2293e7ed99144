// Tag syntax checks shared by pre-auth keys and nodes, with headscale's rules.

import { badRequest } from '../errors.js';

export function validateTags(tags: string[], field: string): string[] {
  for (const tag of tags) {
    if (!tag.startsWith('tag:') || tag.length === 4) {
      throw badRequest(`field "${field}": tag ${JSON.stringify(tag)} must start with "tag:" followed by a name`);
    }
    if (tag.toLowerCase() !== tag) throw badRequest(`field "${field}": tag ${JSON.stringify(tag)} must be lowercase`);
    if (/\s/.test(tag)) throw badRequest(`field "${field}": tag ${JSON.stringify(tag)} must not contain spaces`);
  }
  return [...new Set(tags)];
}
