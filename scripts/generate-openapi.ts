/**
 * Writes openapi.json from the router: `npm run openapi`. A test fails when the checked-in file
 * differs from what this produces.
 */
import { writeFileSync } from 'node:fs';
import { serializeOpenApiDocument } from '../src/http/openapi.js';

const target = new URL('../openapi.json', import.meta.url);
writeFileSync(target, serializeOpenApiDocument());
console.log(`wrote ${target.pathname}`);
