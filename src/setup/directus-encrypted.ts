/**
 * Directus's `encrypt` field special stores `1||scrypt||N||r||p||salt||iv||ciphertext||tag` and reads a value of
 * fewer than nine `||`-separated parts as not encrypted (api `utils/encrypt.ts`). A value stored before a field
 * became encrypted is clear text.
 */
export const isDirectusCiphertext = (value: string): boolean => value.split('||').length >= 9;

/** What Directus shows every user in place of an encrypted (or concealed) value: in the app, the API and revisions. */
export const MASKED_VALUE = '**********';
