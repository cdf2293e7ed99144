// Validation of the names admins choose: user names and tags (DNS labels: src/dns/names.ts).

/** Why a user name is unusable, or null when it is fine. */
export function validateUserName(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 255) return 'longer than 255 characters';
  if (/\s/.test(name)) return 'must not contain whitespace';
  if (!/^[\p{L}\p{N}._@+\-']+$/u.test(name)) return "may contain only letters, digits and . _ @ + - '";
  if ((name.match(/@/g) ?? []).length > 1) return "contains more than one '@'";
  return null;
}

/** Why a tag is unusable, or null when it is fine. Tags are "tag:<name>". */
export function validateTag(tag: string): string | null {
  if (!tag.startsWith('tag:')) return 'tags start with "tag:"';
  const name = tag.slice(4);
  if (name.length === 0) return 'empty tag name';
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(name)) return 'a tag name starts with a letter and contains only letters, digits and "-"';
  return null;
}
