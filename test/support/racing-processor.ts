import { pino } from 'pino';
import { loadProcessorConfig } from '../../src/processor/config.ts';
import { Processor } from '../../src/processor/processor.ts';
import { freePort, REDIS_URL, type TestStack } from './stack.ts';

/** A started in-process processor with race timing on: the stack's database, Directus and processor token. */
export async function startRacingProcessor(stack: TestStack, stream: string, env: Record<string, string> = {}): Promise<Processor> {
  const processor = new Processor(
    loadProcessorConfig({
      DATABASE_URL: stack.databaseUrl,
      REDIS_URL,
      REDIS_TELEMETRY_STREAM: stream,
      METRICS_PORT: String(await freePort()),
      DIRECTUS_URL: stack.directusUrl,
      DIRECTUS_TOKEN: stack.processorToken,
      ...env,
    }),
    pino({ level: 'silent' }),
  );
  await processor.start();
  return processor;
}
