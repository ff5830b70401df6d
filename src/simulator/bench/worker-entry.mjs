// Worker threads do not inherit the tsx loader of the main thread, and `--import tsx` in a worker's
// execArgv does not apply to its entry module on Node 20. This plain-JS entry registers tsx, then loads
// the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./load-worker.ts');
