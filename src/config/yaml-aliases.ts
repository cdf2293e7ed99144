// YAML anchors and aliases checked before the document becomes values, so a mistake or a
// hostile file is a config error naming the file and line, never a stack trace or a hang:
// an alias with no anchor before it, an anchor defined twice (which one is meant?), an
// alias inside the node it names (an endless value), and aliases that expand to more
// values than any config needs (the "billion laughs" document).

import { isAlias, isCollection, isPair, isScalar, visit, type Document, type LineCounter, type Node } from 'yaml';
import { ConfigError } from './errors.js';

/** Values a whole config may expand to; headscale's example has a few hundred. */
export const MAX_EXPANDED_VALUES = 100_000;

export function checkAliases(doc: Document, lines: LineCounter, file: string): void {
  const lineOf = (n: { range?: [number, number, number] | null }) => (n.range ? lines.linePos(n.range[0]).line : 0);
  const fail = (problem: string, line: number): never => {
    throw new ConfigError(file, problem, line ? `line ${line}` : undefined);
  };

  const anchors = new Map<string, Node>();
  visit(doc, (_key, node, path) => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) fail(`alias *${node.source} has no anchor &${node.source} before it`, lineOf(node));
      // The anchor's node is still being visited: the alias sits inside what it names.
      if (path.includes(target as never)) {
        fail(`alias *${node.source} is inside the node &${node.source} it names, which would make the value endless`, lineOf(node));
      }
      return;
    }
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) {
      const earlier = anchors.get(anchor);
      if (earlier) fail(`anchor &${anchor} is defined a second time (first at line ${lineOf(earlier)})`, lineOf(node as Node));
      anchors.set(anchor, node as Node);
    }
  });

  // Expanded size, each anchored node measured once.
  const sizes = new Map<Node, number>();
  const size = (n: unknown): number => {
    if (n === null || n === undefined) return 1;
    if (isAlias(n)) {
      const target = anchors.get(n.source)!;
      const s = size(target);
      if (s > MAX_EXPANDED_VALUES) fail(`alias *${n.source} expands to more than ${MAX_EXPANDED_VALUES} values`, lineOf(n));
      return s;
    }
    if (isScalar(n)) return 1;
    const known = sizes.get(n as Node);
    if (known !== undefined) return known;
    let total = 1;
    if (isCollection(n)) {
      for (const item of n.items as unknown[]) {
        total += isPair(item) ? size(item.key) + size(item.value) : size(item);
        if (total > MAX_EXPANDED_VALUES) {
          fail(`the values expand to more than ${MAX_EXPANDED_VALUES} through aliases (a "billion laughs" document?)`, lineOf(n as Node));
        }
      }
    }
    sizes.set(n as Node, total);
    return total;
  };
  size(doc.contents);
}
