import type { CompiledPolicy } from './compiled.js';

export function evaluateTests(_c: CompiledPolicy): void {}
