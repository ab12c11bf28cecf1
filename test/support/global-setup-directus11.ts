import { directusStack } from './global-setup.ts';

export default directusStack(11);
