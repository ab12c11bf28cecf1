/** Identifies this bundle in logs and in the health answer. */
export const BUNDLE_NAME = 'pitwall';
export const BUNDLE_VERSION = '0.1.0';
