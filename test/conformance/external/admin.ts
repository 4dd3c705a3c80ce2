// The helpers a dirq:// author keeps beside the conformance test (the package test copies this file into a project
// of its own): a fresh queue, which is a directory under DIRQ_ROOT, and its removal.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const DIRQ_ROOT = path.join(os.tmpdir(), `dirq-${process.pid}`);
let created = 0;

export async function createQueue(): Promise<string> {
  const queue = `queue-${Date.now().toString(36)}-${created++}`;
  await fs.mkdir(path.join(DIRQ_ROOT, queue), { recursive: true });
  return queue;
}

export async function deleteQueue(queue: string): Promise<void> {
  await fs.rm(path.join(DIRQ_ROOT, queue), { recursive: true, force: true });
}
