#!/usr/bin/env node
// The `opencpo` command. OpenCPO ships as TypeScript and runs it through tsx's loader: no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
