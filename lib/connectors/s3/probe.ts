// `wasm-pipes check` for s3://: HeadBucket on the sink's bucket with its region, endpoint and credentials, the
// connector's own start-up check. Nothing is uploaded.
import { lookupScheme, type EndpointUri } from '../../registry';

export async function probeSink(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const definition = lookupScheme(uri.scheme, uri.variable);
  const driver = definition.openSink?.(uri, { env });
  if (driver?.start === undefined) throw new Error('this s3:// sink has no start-up check');
  try {
    await driver.start();
    return `bucket '${uri.url.host}' exists and these credentials may use it`;
  } catch (error) {
    throw new Error((error as Error).message.replace(/^[A-Z_]+: /, ''), { cause: error });
  } finally {
    await driver.close().catch(() => undefined);
  }
}
