import { defineHook } from '@directus/extensions-sdk';
import { BUNDLE_NAME, BUNDLE_VERSION } from '../shared/bundle-info';

export default defineHook(({ init }, { logger }) => {
  init('app.after', () => {
    logger.info(`${BUNDLE_NAME} ${BUNDLE_VERSION}: hook loaded`);
  });
});
