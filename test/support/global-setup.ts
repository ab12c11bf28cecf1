import type { TestProject } from 'vitest/node';
import { startTestStack, type TestStack } from './stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: TestStack;
  }
}

/** One Directus per test project (11 for the full suite, 12 for the compatibility suite), shared by its files. */
export function directusStack(version: 11 | 12) {
  return async function setup(project: TestProject) {
    const { stack, stop } = await startTestStack(version);
    project.provide('stack', stack);
    return stop;
  };
}
