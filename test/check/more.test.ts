// `wasm-pipes check` for MQTT (the Mosquitto on 1883), Redis streams (the Redis on 6379, and a private one with a
// password), PostgreSQL (the server on 5432) and S3 (fauxqs): what exists passes, what is missing or refused is one
// line with its fix, and nothing is read, claimed or written.
import type { Pool } from 'pg';
import { runCheck } from './helpers';
import { startedForTests } from '../helpers/fixture';
import { MQTT_URL, uniqueTopic } from '../mqtt/helpers';
import { StreamAdmin, PrivateRedis, REDIS_URL } from '../redisstream/helpers';
import { adminPool, createTable, pgUri, PG_HOST } from '../postgres/helpers';
import { Fauxqs, AWS_TEST_ENV, s3Client, createBucket, deleteBucket, uniqueBucket } from '../s3/helpers';

describe('wasm-pipes check: MQTT', () => {
  test('a broker that lets us in: exit 0; nothing listening: exit 2 with the fix', async () => {
    const topic = uniqueTopic('check');
    const run = await runCheck({ MQTT_SERVER_URL: MQTT_URL, SOURCE_URI: `mqtt://${topic}/+`, SINK_URI: `mqtt://${topic}/out` });
    expect(run.problems).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.ok).toEqual([
      `ok  SOURCE_URI      mqtt://${topic}/+  MQTT 127.0.0.1:1883: connected, credentials accepted`,
      `ok  SINK_URI        mqtt://${topic}/out  MQTT 127.0.0.1:1883: connected, credentials accepted`,
    ]);
    const refused = await runCheck({ MQTT_SERVER_URL: 'mqtt://127.0.0.1:1', SOURCE_URI: `mqtt://${topic}/+`, SINK_URI: 'stdout://' });
    expect(refused.status).toBe(2);
    expect(refused.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^wasm-pipes check: SOURCE_URI mqtt://${topic}/\\+: cannot connect to MQTT at 127\\.0\\.0\\.1:1 \\(.*ECONNREFUSED.*\\); start the broker, or fix MQTT_SERVER_URL$`,
        ),
      ),
    ]);
  });
});

describe('wasm-pipes check: Redis streams', () => {
  const admin = new StreamAdmin();
  afterAll(async () => {
    await admin.cleanup();
    await admin.close();
  });

  test('a stream with its group, a stream to append to: exit 0, and the entry stays unread', async () => {
    const stream = admin.stream('check');
    await admin.createGroup(stream, 'relay');
    await admin.add(stream, [{ body: 'left alone' }]);
    const run = await runCheck({
      REDIS_SERVER_URL: REDIS_URL,
      SOURCE_URI: `redis-stream://${stream}?group=relay`,
      SINK_URI: `redis-stream://${stream}`,
    });
    expect(run.problems).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.ok).toEqual([
      expect.stringMatching(
        new RegExp(
          `^ok {2}SOURCE_URI +redis-stream://${stream}\\?group=.* {2}Redis 127\\.0\\.0\\.1:6379: stream '${stream}', group 'relay' \\(0 pending\\)$`,
        ),
      ),
      `ok  SINK_URI        redis-stream://${stream}  Redis 127.0.0.1:6379: stream '${stream}' exists (1 entries)`,
    ]);
  });

  test('a missing group, a missing stream with ?create=false, refused credentials: exit 2, a line each', async () => {
    const stream = admin.stream('check');
    await admin.createGroup(stream, 'relay');
    const missing = admin.stream('missing');
    const run = await runCheck({
      REDIS_SERVER_URL: REDIS_URL,
      SOURCE_URI: `redis-stream://${stream}?group=other`,
      SINK_URI: `redis-stream://${missing}?create=false`,
    });
    expect(run.status).toBe(2);
    expect(run.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^wasm-pipes check: SOURCE_URI redis-stream://${stream}\\?group=.*: stream '${stream}' has no consumer group 'other'; create it \\(redis-cli XGROUP CREATE ${stream} other 0\\), or add &create_group=true$`,
        ),
      ),
      // (the line masks query values the redaction does not know as structural, as the logs do)
      expect.stringMatching(
        new RegExp(
          `^wasm-pipes check: SINK_URI redis-stream://${missing}\\?create=.*: stream '${missing}' does not exist and \\?create=false; create it \\(redis-cli XGROUP CREATE ${missing} GROUP \\$ MKSTREAM\\), or drop \\?create=false$`,
        ),
      ),
    ]);
    const guarded = new PrivateRedis({ password: 'the-right-one' });
    await guarded.start();
    try {
      const refused = await runCheck({
        REDIS_SERVER_URL: guarded.url,
        REDIS_PASSWORD: 'a-wrong-one',
        SOURCE_URI: 'stdin://',
        SINK_URI: `redis-stream://${missing}`,
      });
      expect(refused.status).toBe(2);
      expect(refused.problems).toEqual([
        expect.stringMatching(
          new RegExp(
            `^wasm-pipes check: SINK_URI redis-stream://${missing}: Redis at 127\\.0\\.0\\.1:\\d+ refused the credentials \\(.*\\); fix REDIS_SERVER_URL or REDIS_USERNAME/REDIS_PASSWORD$`,
          ),
        ),
      ]);
      expect(refused.problems.join('\n')).not.toContain('a-wrong-one');
    } finally {
      await guarded.stop();
    }
  });
});

describe('wasm-pipes check: PostgreSQL', () => {
  let pool: Pool;
  beforeAll(() => {
    pool = adminPool();
  });
  afterAll(async () => {
    await pool.end();
  });

  test('an outbox to read and a table to insert into: exit 0, and the rows stay unclaimed', async () => {
    const outbox = await createTable(pool, 'outbox');
    const events = await createTable(pool, 'events');
    try {
      await pool.query(`INSERT INTO ${outbox.name} (id, body) VALUES ('left-alone', convert_to('{}', 'UTF8'))`);
      const run = await runCheck({ SOURCE_URI: pgUri(outbox.name), SINK_URI: pgUri(events.name) });
      expect(run.problems).toEqual([]);
      expect(run.status).toBe(0);
      expect(run.ok).toEqual([
        expect.stringMatching(
          new RegExp(
            `^ok {2}SOURCE_URI +postgres://.*/${outbox.name} {2}PostgreSQL ${PG_HOST}: table '${outbox.name}' \\(\\d+ columns\\), SELECT, UPDATE, DELETE granted$`,
          ),
        ),
        expect.stringMatching(
          new RegExp(
            `^ok {2}SINK_URI +postgres://.*/${events.name} {2}PostgreSQL ${PG_HOST}: table '${events.name}' \\(\\d+ columns\\), INSERT granted$`,
          ),
        ),
      ]);
      const rows = await pool.query(`SELECT * FROM ${outbox.name}`);
      expect(rows.rows).toHaveLength(1);
    } finally {
      await outbox.drop();
      await events.drop();
    }
  });

  test('a missing table, a missing database: exit 2, a line each', async () => {
    const run = await runCheck({ SOURCE_URI: pgUri('no_such_table'), SINK_URI: `postgres://postgres@${PG_HOST}/no_such_database/events` });
    expect(run.status).toBe(2);
    expect(run.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^wasm-pipes check: SOURCE_URI postgres://.*/no_such_table: postgres \\(${PG_HOST}\\): table 'no_such_table' does not exist; create it with the SQL in docs/connectors/postgres\\.md`,
        ),
      ),
      expect.stringMatching(
        new RegExp(
          `^wasm-pipes check: SINK_URI postgres://.*/no_such_database/events: postgres \\(${PG_HOST}\\): database 'no_such_database' does not exist .*; create it \\(createdb no_such_database\\)`,
        ),
      ),
    ]);
  });
});

describe('wasm-pipes check: S3 (fauxqs)', () => {
  const fauxqs = startedForTests(() => Fauxqs.start());

  test('a bucket that exists: exit 0, nothing uploaded; a bucket that does not: exit 2', async () => {
    const client = s3Client(fauxqs());
    const bucket = await createBucket(client, 'check');
    try {
      const uri = `s3://${bucket}/out/?endpoint=${encodeURIComponent(fauxqs().endpoint)}`;
      const run = await runCheck({ ...AWS_TEST_ENV, SOURCE_URI: 'stdin://', SINK_URI: uri });
      expect(run.problems).toEqual([]);
      expect(run.status).toBe(0);
      expect(run.ok[1]).toMatch(
        new RegExp(`^ok {2}SINK_URI +s3://${bucket}/out/\\?endpoint=.* {2}bucket '${bucket}' exists and these credentials may use it$`),
      );
      const missing = uniqueBucket('missing');
      const failed = await runCheck({
        ...AWS_TEST_ENV,
        SOURCE_URI: 'stdin://',
        SINK_URI: `s3://${missing}/?endpoint=${encodeURIComponent(fauxqs().endpoint)}`,
      });
      expect(failed.status).toBe(2);
      expect(failed.problems).toEqual([
        expect.stringMatching(new RegExp(`^wasm-pipes check: SINK_URI s3://${missing}/\\?endpoint=.*: .*${missing}`)),
      ]);
    } finally {
      await deleteBucket(client, bucket);
    }
  });
});
