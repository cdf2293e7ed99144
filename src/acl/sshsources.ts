// Resolved sources and destinations of each SSH rule, built once per policy and patched per
// node change, so a node's SSH policy costs its own rules' sizes instead of a tailnet scan
// per rule.
import type { Policy, SshEntry } from './parse.js';
import { nodeInSource, patchSelection, select, type Selection } from './resolve.js';
import type { NodeRec, TailnetIndex } from './tailnet.js';

export interface SshEntryIndex {
  entry: SshEntry;
  src: Selection;
  dst: Selection;
  /** Source nodes in principal order (registration order, multi-tag repeats adjacent). */
  sources: NodeRec[];
  /** Untagged sources per user, in the same order. */
  byUser: Map<number, NodeRec[]>;
  /** With autogroup:tagged among the sources: the other source aliases. */
  others: Selection | null;
  /** Source node ids. */
  ids: Set<number>;
  /** localpart:*@domain users deliver the rule to the sources' own devices too. */
  localpart: boolean;
}

/**
 * How often the node appears among the principals: autogroup:tagged lists a tagged node once
 * per tag, as the control plane does, unless another source alias already names it.
 */
function multiplicity(ent: SshEntryIndex, rec: NodeRec): number {
  if (!nodeInSource(ent.src, rec)) return 0;
  if (!rec.tagged || !ent.others) return 1;
  return nodeInSource(ent.others, rec) ? 1 : rec.node.tags.length;
}

function otherAliases(e: SshEntry): string[] {
  return e.src.filter((a) => a !== 'autogroup:tagged');
}

function insertBySeq(list: NodeRec[], rec: NodeRec, times: number): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].seq < rec.seq) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, ...Array<NodeRec>(times).fill(rec));
}

function removeId(list: NodeRec[], id: number): void {
  const at = list.findIndex((n) => n.node.id === id);
  if (at < 0) return;
  let end = at;
  while (end < list.length && list[end].node.id === id) end++;
  list.splice(at, end - at);
}

export class SshSources {
  readonly entries: SshEntryIndex[];

  constructor(private readonly p: Policy, private readonly idx: TailnetIndex) {
    const ordered = idx.ordered();
    this.entries = p.ssh.map((entry) => {
      const ent: SshEntryIndex = {
        entry, src: select(p, idx, entry.src), dst: select(p, idx, entry.dst), sources: [], byUser: new Map(), ids: new Set(),
        others: entry.src.includes('autogroup:tagged') ? select(p, idx, otherAliases(entry)) : null,
        localpart: entry.users.some((u) => u.startsWith('localpart:')),
      };
      for (const rec of ordered) {
        const times = multiplicity(ent, rec);
        if (times) ent.ids.add(rec.node.id);
        for (let i = 0; i < times; i++) ent.sources.push(rec);
        if (times && !rec.tagged && rec.node.userId !== null) {
          const l = ent.byUser.get(rec.node.userId) ?? [];
          l.push(rec);
          ent.byUser.set(rec.node.userId, l);
        }
      }
      return ent;
    });
  }

  /**
   * Applies one node's join/change (after set) or removal (after undefined), once the tailnet
   * index holds the new state. Returns the nodes whose SSH policy lists the node as a source,
   * before or after the change.
   */
  patch(id: number, before: NodeRec | undefined, after: NodeRec | undefined): Set<number> {
    const affected = new Set<number>();
    for (const ent of this.entries) {
      if (before) this.receivers(ent, before, affected);
      patchSelection(this.p, this.idx, ent.entry.src, ent.src, id, after);
      patchSelection(this.p, this.idx, ent.entry.dst, ent.dst, id, after);
      if (ent.others) patchSelection(this.p, this.idx, otherAliases(ent.entry), ent.others, id, after);
      removeId(ent.sources, id);
      ent.ids.delete(id);
      if (before && !before.tagged && before.node.userId !== null) {
        const l = ent.byUser.get(before.node.userId);
        if (l) removeId(l, id);
      }
      if (!after) continue;
      const times = multiplicity(ent, after);
      if (!times) continue;
      ent.ids.add(id);
      insertBySeq(ent.sources, after, times);
      if (!after.tagged && after.node.userId !== null) {
        let l = ent.byUser.get(after.node.userId);
        if (!l) ent.byUser.set(after.node.userId, (l = []));
        insertBySeq(l, after, 1);
      }
      this.receivers(ent, after, affected);
    }
    return affected;
  }

  /** Nodes that get the rule with `rec` among its principals. */
  private receivers(ent: SshEntryIndex, rec: NodeRec, out: Set<number>): void {
    if (!ent.ids.has(rec.node.id)) return;
    if (ent.dst.all) for (const id of this.idx.nodes.keys()) out.add(id);
    for (const id of ent.dst.nodes) out.add(id);
    if ((ent.dst.self || ent.localpart) && !rec.tagged && rec.node.userId !== null) {
      for (const id of this.idx.byUser.get(rec.node.userId) ?? []) out.add(id);
    }
  }
}
