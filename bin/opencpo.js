#!/usr/bin/env -S node --max-semi-space-size=64
// --max-semi-space-size=64 (MiB): a larger young generation for the server's per-message garbage. With V8's
// default (16 MiB) a busy server spent a third of a core on scavenges; see the README's performance section.
// `npm start` and `opencpo bench` start the server with the same flag.
// The `opencpo` command. OpenCPO ships as TypeScript and runs it through tsx's loader: no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
