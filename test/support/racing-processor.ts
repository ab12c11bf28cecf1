import { pino } from 'pino';
import { loadProcessorConfig } from '../../src/processor/config.ts';
import { Processor } from '../../src/processor/processor.ts';
import { freePort, FUTURE_RACE_SKEW_MS, REDIS_URL, type TestStack } from './stack.ts';

/**
 * A started in-process processor with race timing on, as deployed: the stack's database as the processor's own
 * database role, Directus and the processor token.
 */
export async function startRacingProcessor(stack: TestStack, stream: string, env: Record<string, string> = {}): Promise<Processor> {
  const processor = new Processor(
    loadProcessorConfig({
      DATABASE_URL: stack.processorDatabaseUrl,
      REDIS_URL,
      REDIS_TELEMETRY_STREAM: stream,
      METRICS_PORT: String(await freePort()),
      DIRECTUS_URL: stack.directusUrl,
      DIRECTUS_TOKEN: stack.processorToken,
      // Tests drive races at fixed hours after the demo stages open (midnight UTC), up to three days later, so that
      // the processor's clock concludes nothing early (no DNF, no open signal loss): their fixes are ahead of the
      // clock, and the default skew would dead-letter them. processor-hostile-entries tests the default.
      MAX_FUTURE_SKEW_MS: String(FUTURE_RACE_SKEW_MS),
      ...env,
    }),
    pino({ level: process.env.TEST_PROCESSOR_LOG ?? 'silent' }),
  );
  await processor.start();
  return processor;
}
