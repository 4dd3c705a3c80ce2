// A disk that fills up: a 64 KiB tmpfs mounted for the test (as root), where writes first come back short and then
// fail with ENOSPC, as on a real full disk. Where mounting is not allowed, /dev/full stands in: every write fails with
// ENOSPC (no short writes), which still proves that a full disk fails the batch and does not end the process.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SmallDisk {
  /** `tmpfs`: a real small file system; `dev-full`: only /dev/full, where every write fails. */
  readonly kind: 'tmpfs' | 'dev-full';
  /** A path to write to on the full disk (a file on the tmpfs, or /dev/full). */
  file(name: string): string;
  /** Unmounts and removes the mount point. */
  release(): void;
}

export function mountSmallDisk(sizeKiB = 64): SmallDisk {
  const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-pipes-small-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', mountPoint], { stdio: 'ignore' });
  } catch {
    fs.rmdirSync(mountPoint);
    return { kind: 'dev-full', file: () => '/dev/full', release: () => undefined };
  }
  return {
    kind: 'tmpfs',
    file: (name) => path.join(mountPoint, name),
    release: () => {
      execFileSync('umount', [mountPoint], { stdio: 'ignore' });
      fs.rmdirSync(mountPoint);
    },
  };
}
