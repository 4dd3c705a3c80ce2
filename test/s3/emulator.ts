// fauxqs's S3 for a test file, with jest's hooks (apart from helpers.ts, which benchmarks import without jest).
import type { S3Client } from '@aws-sdk/client-s3';
import { Fauxqs } from '../aws/fauxqs';
import { s3Client } from './helpers';

/** fauxqs's S3 as a test file sees it: see fauxqsS3ForFile(). */
export interface FauxqsS3 {
  fauxqs: Fauxqs;
  /** A client of the tests, to make buckets and read objects independently of the connector. */
  client: S3Client;
}

/** fauxqs's S3 of a test file: started with its client before the file's tests, both stopped after them. */
export function fauxqsS3ForFile(): FauxqsS3 {
  const s3 = {} as FauxqsS3;
  beforeAll(async () => {
    s3.fauxqs = await Fauxqs.start();
    s3.client = s3Client(s3.fauxqs);
  });
  afterAll(async () => {
    s3.client.destroy();
    await s3.fauxqs.stop();
  });
  return s3;
}
