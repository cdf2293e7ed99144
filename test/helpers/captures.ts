// The captures of a real tailscaled v1.80.3 kept in the repository (test/fixtures), so the
// suite needs nothing beside the clone. Resolved from the source tree, not from dist/.

import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** dist/test/helpers/captures.js → the repository root. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const CAPTURES_1_80_3 = path.join(ROOT, 'test', 'fixtures', 'tailscale-1.80.3');
