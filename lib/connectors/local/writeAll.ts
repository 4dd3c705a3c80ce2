// Writing a batch of lines to a file descriptor so that an ack means every byte is on the file: write(2) may take
// only part of a buffer (a full disk returns a short count before it returns ENOSPC), so the rest is written again
// until all is taken, and a write that takes nothing or fails fails the batch.
import fs from 'node:fs';

/** A write that stopped part-way; `written` bytes of the buffer were taken before it failed. */
export class PartialWriteError extends Error {
  override readonly name = 'PartialWriteError';
  constructor(
    message: string,
    readonly written: number,
    readonly total: number,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** Something that writes part of a buffer and says how much it took (FileHandle.write, fs.write). */
export type WriteSome = (buffer: Buffer, offset: number, length: number) => Promise<number>;

/** Writes every byte of `buffer`; throws a PartialWriteError saying how many were taken if the file refuses the rest. */
export async function writeAll(writeSome: WriteSome, buffer: Buffer): Promise<void> {
  let written = 0;
  while (written < buffer.length) {
    let taken: number;
    try {
      taken = await writeSome(buffer, written, buffer.length - written);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOSPC' ? 'no space left on the device' : (error as Error).message;
      throw new PartialWriteError(`${reason}: ${written} of ${buffer.length} bytes written`, written, buffer.length, { cause: error });
    }
    // a regular file never answers 0 for a non-empty write unless it cannot take more; looping would spin
    if (taken <= 0)
      throw new PartialWriteError(`the file took 0 bytes: ${written} of ${buffer.length} bytes written`, written, buffer.length);
    written += taken;
  }
}

/** fs.write on a descriptor as a WriteSome (the descriptor's own position: appends for O_APPEND and redirections). */
export function descriptorWriter(fd: number): WriteSome {
  return (buffer, offset, length) =>
    new Promise((resolve, reject) =>
      fs.write(fd, buffer, offset, length, null, (error, taken) => (error ? reject(error) : resolve(taken))),
    );
}
