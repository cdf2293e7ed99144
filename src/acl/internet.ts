// autogroup:internet: the public address space, i.e. everything except the tailnet,
// private, link-local, multicast and other special-purpose ranges.
import { formatRange, normalize, parsePrefix, rangeToPrefixes, subtract, type Range } from './ipset.js';

const EXCLUDED = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
  '192.168.0.0/16', '224.0.0.0/3',
  'fc00::/7', 'fe80::/10', 'ff00::/8', '::/3'.replace('::/3', '::/128'),
];

function compute(): string[] {
  const all: Range[] = [parsePrefix('0.0.0.0/0')!, parsePrefix('2000::/3')!];
  const cut = normalize(EXCLUDED.map((e) => parsePrefix(e)!));
  return subtract(all, cut).flatMap(rangeToPrefixes).map(formatRange);
}

export const INTERNET_RANGES: string[] = compute();
